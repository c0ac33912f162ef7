"""The demo shop's knowledge base: Casa Lavanda's help center, in Italian.

Categories (key, name, description) and articles (category, title, tags, Markdown body, status).
The published ones are on ``/help`` and are what the chat bot answers from; the ``internal`` ones
are for agents only (procedures), never shown to customers.
"""

from __future__ import annotations

CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("resi", "Resi e rimborsi", "Come restituire un articolo e quando arriva il rimborso."),
    ("spedizioni", "Spedizioni e consegne", "Tempi, costi, corrieri e tracciamento dei pacchi."),
    ("pagamenti", "Pagamenti", "Carte, PayPal, bonifico, contrassegno e codici sconto."),
    (
        "garanzia",
        "Garanzia e prodotti difettosi",
        "Cosa fare se un articolo arriva rotto o si guasta.",
    ),
    ("fatture", "Fatture", "Fattura elettronica, partita IVA e documenti dell'ordine."),
    (
        "prodotti",
        "Prodotti e cura dei tessuti",
        "Lavaggio del lino, della lana, la lavanda e i materiali.",
    ),
    ("procedure", "Procedure interne", "Solo per il team: come gestiamo i casi particolari."),
)

PUBLISHED = "published"
INTERNAL = "internal"

ARTICLES: tuple[tuple[str, str, tuple[str, ...], str, str], ...] = (
    # --- resi -------------------------------------------------------------------------------
    (
        "resi",
        "Come faccio un reso?",
        ("reso", "restituzione"),
        "Puoi restituire qualsiasi articolo entro **30 giorni dalla consegna**, e il reso è "
        "gratuito.\n\n1. Accedi a *I miei ordini* e scegli l'ordine.\n2. Premi **Richiedi "
        "reso** e indica gli articoli e il motivo.\n3. Ti inviamo per email l'etichetta "
        "prepagata: stampala e applicala sul pacco.\n4. Consegna il pacco in un punto BRT o "
        "prenota il ritiro a domicilio.\n\nGli articoli devono essere integri, non usati e, se "
        "possibile, nella confezione originale.",
        PUBLISHED,
    ),
    (
        "resi",
        "Quanto tempo ho per restituire un articolo?",
        ("reso", "diritto di recesso"),
        "Hai **30 giorni** dalla data di consegna, il doppio dei 14 giorni previsti dal Codice "
        "del Consumo per il diritto di recesso. Per gli acquisti fatti tra il 15 novembre e il "
        "24 dicembre il termine si allunga fino al **31 gennaio**, così i regali si possono "
        "cambiare con calma.",
        PUBLISHED,
    ),
    (
        "resi",
        "Quando arriva il rimborso?",
        ("rimborso", "reso"),
        "Appena il reso arriva al nostro magazzino di Prato lo controlliamo (di solito entro 2 "
        "giorni lavorativi) e disponiamo il rimborso **sullo stesso metodo di pagamento** "
        "dell'ordine.\n\n- Carta di credito o debito: 5-7 giorni lavorativi, a seconda della "
        "banca.\n- PayPal: 1-2 giorni.\n- Contrassegno: bonifico sull'IBAN che ci indichi, 1-2 "
        "giorni.\n\nRiceverai un'email di conferma quando il rimborso è partito.",
        PUBLISHED,
    ),
    (
        "resi",
        "Il reso è gratuito?",
        ("reso", "spese di spedizione"),
        "Sì: in Italia l'etichetta di reso è **gratuita** per tutti gli ordini. Dall'estero il "
        "reso costa 9,90 €, che tratteniamo dal rimborso. Le spese di spedizione dell'ordine "
        "originale vengono rimborsate solo se restituisci l'ordine completo.",
        PUBLISHED,
    ),
    (
        "resi",
        "Posso cambiare un articolo con un'altra misura o un altro colore?",
        ("cambio", "reso", "taglia"),
        "Certo. Richiedi il reso da *I miei ordini* scegliendo come motivo **Cambio** e indica "
        "la misura o il colore che preferisci. Spediamo il nuovo articolo appena il corriere "
        "ritira il pacco, senza aspettare che arrivi in magazzino. Se il nuovo articolo costa di "
        "più ti chiediamo solo la differenza.",
        PUBLISHED,
    ),
    (
        "resi",
        "Ritiro a domicilio del reso",
        ("reso", "ritiro", "corriere"),
        "Se non puoi andare in un punto di ritiro, al momento della richiesta di reso scegli "
        "**Ritiro a domicilio**: il corriere passa in una fascia di 9 ore (9-18) nel giorno "
        "che indichi. Il pacco deve essere chiuso con l'etichetta già applicata. Se non sei in "
        "casa, il corriere riprova il giorno lavorativo successivo.",
        PUBLISHED,
    ),
    (
        "resi",
        "Articoli che non si possono restituire",
        ("reso", "eccezioni"),
        "Per motivi igienici non possiamo accettare il reso di **cuscini da letto e piumini "
        "tolti dalla confezione sigillata**, né degli articoli personalizzati con ricamo o "
        "monogramma. Le candele e i prodotti alla lavanda si possono restituire solo se ancora "
        "sigillati.",
        PUBLISHED,
    ),
    (
        "resi",
        "Ho ricevuto un rimborso parziale: perché?",
        ("rimborso", "reso"),
        "Un rimborso parziale succede quando restituisci solo una parte dell'ordine (le spese di "
        "spedizione originali non vengono rimborsate), quando il reso arriva dall'estero (9,90 €) "
        "o quando un articolo torna usato o danneggiato. Nell'email di conferma del rimborso "
        "trovi il dettaglio voce per voce; se qualcosa non torna scrivici rispondendo a quella "
        "email.",
        PUBLISHED,
    ),
    # --- spedizioni ---------------------------------------------------------------------------
    (
        "spedizioni",
        "Quanto costa la spedizione?",
        ("spedizione", "costi"),
        "La spedizione in Italia costa **4,90 €** ed è **gratuita sopra i 59 €**. La spedizione "
        "espressa (consegna in 24 ore nei capoluoghi) costa 9,90 €. Per Sardegna, Sicilia e "
        "Calabria i tempi possono allungarsi di un giorno, senza costi aggiuntivi.",
        PUBLISHED,
    ),
    (
        "spedizioni",
        "Tempi di consegna",
        ("spedizione", "consegna", "tempi"),
        "Gli ordini ricevuti entro le 13 dei giorni lavorativi partono **il giorno stesso**. "
        "La consegna standard richiede 2-4 giorni lavorativi, l'espressa 1-2. Gli articoli "
        "realizzati su ordinazione (tende su misura, lenzuola ricamate) partono in 7-10 giorni: "
        "lo trovi indicato nella scheda del prodotto.",
        PUBLISHED,
    ),
    (
        "spedizioni",
        "Come seguo il mio pacco?",
        ("tracking", "spedizione", "corriere"),
        "Quando l'ordine parte ti mandiamo un'email con il **codice di tracciamento** e il link "
        "al sito del corriere (BRT, GLS, SDA o Poste Italiane). Lo trovi anche in *I miei "
        "ordini*. Il tracking si aggiorna di solito qualche ora dopo la partenza: se dopo 24 ore "
        'è ancora fermo su "in lavorazione", scrivici.',
        PUBLISHED,
    ),
    (
        "spedizioni",
        "Il mio ordine è in ritardo",
        ("ritardo", "spedizione", "tracking"),
        "Ci dispiace! Prima controlla il tracking: spesso il pacco è in giacenza per un "
        "indirizzo incompleto o perché il corriere non ha trovato nessuno. Se il tracking è "
        "fermo da più di 3 giorni lavorativi, scrivici con il numero d'ordine (CL-xxxxx): apriamo "
        "una segnalazione con il corriere e, se il pacco non si trova, lo **rispediamo a nostre "
        "spese**.",
        PUBLISHED,
    ),
    (
        "spedizioni",
        "Posso cambiare l'indirizzo di consegna?",
        ("indirizzo", "modifica ordine"),
        "Se l'ordine non è ancora partito, sì: scrivici subito in chat o per email con il "
        "numero d'ordine e il nuovo indirizzo. Se è già stato affidato al corriere possiamo "
        "chiedere una modifica della consegna, ma non sempre è possibile; in alternativa puoi "
        "farlo consegnare in un punto di ritiro.",
        PUBLISHED,
    ),
    (
        "spedizioni",
        "Spedite all'estero?",
        ("estero", "spedizione", "europa"),
        "Spediamo in tutta l'Unione Europea, in Svizzera e nel Regno Unito. Il costo dipende dal "
        "paese (da 9,90 € per Francia, Germania e Austria) e viene calcolato nel carrello. Per "
        "Svizzera e Regno Unito possono esserci dazi doganali a carico del destinatario.",
        PUBLISHED,
    ),
    (
        "spedizioni",
        "Il corriere non mi ha trovato in casa",
        ("giacenza", "corriere", "consegna"),
        "Il corriere lascia un avviso e riprova il giorno lavorativo successivo. Dopo due "
        "tentativi il pacco resta **in giacenza** per 7 giorni: puoi concordare una nuova "
        "consegna dal sito del corriere con il codice di tracciamento, oppure scriverci e ci "
        "pensiamo noi.",
        PUBLISHED,
    ),
    (
        "spedizioni",
        "Posso ritirare l'ordine in un punto di ritiro?",
        ("punto di ritiro", "consegna"),
        "Sì: al checkout scegli **Ritiro in un punto BRT-Fermopoint** o in un ufficio postale e "
        "cerca quello più comodo. Riceverai un SMS quando il pacco è pronto; hai 10 giorni per "
        "ritirarlo con un documento d'identità.",
        PUBLISHED,
    ),
    # --- pagamenti ----------------------------------------------------------------------------
    (
        "pagamenti",
        "Quali metodi di pagamento accettate?",
        ("pagamento", "carta", "paypal"),
        "Accettiamo carte di credito e debito (Visa, Mastercard, American Express, Maestro), "
        "**PayPal**, Satispay, Apple Pay e Google Pay, il **bonifico bancario** anticipato e il "
        "**contrassegno** (solo in Italia, con un supplemento di 3 €). Il pagamento in 3 rate "
        "senza interessi è disponibile con PayPal e Klarna per ordini da 60 €.",
        PUBLISHED,
    ),
    (
        "pagamenti",
        "La mia carta viene rifiutata",
        ("pagamento", "carta", "3d secure"),
        "Nella maggior parte dei casi il rifiuto dipende dalla **verifica 3D Secure**: la banca "
        "ti chiede di autorizzare il pagamento dalla sua app, e se non lo fai entro pochi minuti "
        "l'operazione scade. Controlla anche che la carta sia abilitata agli acquisti online e "
        "che il massimale non sia superato. In alternativa puoi pagare con PayPal.",
        PUBLISHED,
    ),
    (
        "pagamenti",
        "Mi avete addebitato due volte l'ordine",
        ("addebito", "pagamento", "preautorizzazione"),
        "Spesso il secondo movimento è una **preautorizzazione**: la banca blocca l'importo "
        "durante un tentativo di pagamento non concluso e lo sblocca da sola entro 5-7 giorni. "
        "Non è un doppio pagamento. Se dopo una settimana vedi ancora due addebiti contabilizzati, "
        "mandaci l'estratto conto e ti rimborsiamo subito.",
        PUBLISHED,
    ),
    (
        "pagamenti",
        "Come pago con bonifico?",
        ("bonifico", "pagamento"),
        "Scegli **Bonifico bancario** al checkout: ricevi per email IBAN e causale (il numero "
        "d'ordine). L'ordine resta riservato per 5 giorni e parte quando il pagamento risulta "
        "sul nostro conto, di solito 1-2 giorni lavorativi dopo il bonifico. Con un bonifico "
        "istantaneo l'ordine parte prima.",
        PUBLISHED,
    ),
    (
        "pagamenti",
        "Il codice sconto non funziona",
        ("codice sconto", "promozione"),
        "Controlla che il codice sia scritto senza spazi e che sia ancora valido: i codici "
        "della newsletter (come BENVENUTO10) valgono **una sola volta** e su una spesa minima di "
        "50 €. I codici non si sommano tra loro né con i saldi. Se hai dimenticato di inserirlo, "
        "scrivici entro 24 ore dall'ordine e ti rimborsiamo la differenza.",
        PUBLISHED,
    ),
    (
        "pagamenti",
        "Pagamento in contrassegno",
        ("contrassegno", "pagamento"),
        "Il contrassegno è disponibile in Italia per ordini fino a 300 €, con un supplemento di "
        "3 €. Al corriere puoi pagare in contanti (importo esatto) o con carta, se il corriere "
        "ha il POS. In caso di reso il rimborso avviene con bonifico sull'IBAN che ci indichi.",
        PUBLISHED,
    ),
    (
        "pagamenti",
        "Buoni regalo",
        ("buono regalo", "regalo"),
        "I buoni regalo di Casa Lavanda vanno da 25 a 200 €, valgono **12 mesi** e arrivano per "
        "email con un messaggio personalizzato, anche in una data a tua scelta. Si possono usare "
        "in più ordini fino a esaurimento del credito, ma non si convertono in denaro.",
        PUBLISHED,
    ),
    # --- garanzia -----------------------------------------------------------------------------
    (
        "garanzia",
        "Il prodotto è arrivato rotto o danneggiato",
        ("danneggiato", "rotto", "garanzia"),
        "Ci dispiace! Scrivici **entro 8 giorni** dalla consegna con il numero d'ordine, una "
        "foto dell'articolo e una della scatola. Ti spediamo subito un articolo nuovo o, se "
        "preferisci, ti rimborsiamo: non devi restituire quello rotto. Se il pacco arriva "
        "visibilmente schiacciato, puoi anche accettarlo **con riserva** firmando la bolla del "
        "corriere.",
        PUBLISHED,
    ),
    (
        "garanzia",
        "Garanzia legale di 2 anni",
        ("garanzia", "difetto di conformità"),
        "Tutti i nostri prodotti hanno la **garanzia legale di conformità di 24 mesi** dalla "
        "consegna. Se un articolo presenta un difetto (una cucitura che cede, una lampada che "
        "smette di funzionare), scrivici con una foto o un breve video: lo ripariamo, lo "
        "sostituiamo o ti rimborsiamo. L'usura normale e i danni da lavaggio errato non sono "
        "coperti.",
        PUBLISHED,
    ),
    (
        "garanzia",
        "Manca un articolo nel pacco",
        ("articolo mancante", "ordine"),
        "A volte un ordine parte in **più colli**, soprattutto se contiene articoli grandi come "
        "tappeti o piumini: controlla l'email di spedizione, dove trovi un tracking per ogni "
        "collo. Se invece il pacco è uno solo e manca qualcosa, scrivici entro 8 giorni: "
        "verifichiamo il peso registrato alla partenza e ti spediamo ciò che manca.",
        PUBLISHED,
    ),
    (
        "garanzia",
        "La lampada non si accende",
        ("lampada", "difetto", "garanzia"),
        "Prima di tutto prova un'altra lampadina (attacco E27, massimo 40 W; le lampade non "
        "includono la lampadina) e un'altra presa. Controlla che l'interruttore sul cavo sia "
        "acceso. Se ancora non funziona, scrivici: è coperta dalla garanzia di 24 mesi e te la "
        "sostituiamo.",
        PUBLISHED,
    ),
    (
        "garanzia",
        "Il colore è diverso dalla foto",
        ("colore", "reso", "foto"),
        "Fotografiamo i prodotti con luce naturale, ma gli schermi mostrano i colori in modo "
        "diverso e i tessuti tinti a mano variano leggermente da un lotto all'altro. Se il colore "
        "non ti convince puoi restituire l'articolo gratuitamente entro 30 giorni, oppure "
        "chiederci una foto del lotto disponibile prima di ordinare.",
        PUBLISHED,
    ),
    # --- fatture ------------------------------------------------------------------------------
    (
        "fatture",
        "Come richiedo la fattura?",
        ("fattura", "partita iva"),
        "Al checkout spunta **Richiedo la fattura** e inserisci ragione sociale, partita IVA o "
        "codice fiscale, indirizzo della sede e codice SDI o PEC. La fattura elettronica viene "
        "emessa alla spedizione e inviata allo SDI; una copia in PDF è in *I miei ordini* > "
        "*Documenti*.",
        PUBLISHED,
    ),
    (
        "fatture",
        "Ho dimenticato di chiedere la fattura",
        ("fattura", "ordine"),
        "Nessun problema, se ce lo dici **entro la fine del mese** dell'ordine: scrivici con il "
        "numero d'ordine e i dati di fatturazione (ragione sociale, partita IVA, indirizzo, "
        "codice SDI o PEC). Dopo la fine del mese la legge non ci permette più di emettere la "
        "fattura per un ordine già registrato con ricevuta.",
        PUBLISHED,
    ),
    (
        "fatture",
        "Fattura con dati sbagliati",
        ("fattura", "nota di credito"),
        "Una fattura elettronica già inviata allo SDI non si può modificare: emettiamo una "
        "**nota di credito** che la annulla e una nuova fattura con i dati corretti. Scrivici "
        "indicando il numero d'ordine e i dati giusti; di solito è fatto entro 2 giorni "
        "lavorativi.",
        PUBLISHED,
    ),
    (
        "fatture",
        "Dove trovo la fattura o la ricevuta?",
        ("fattura", "ricevuta", "documenti"),
        "Accedi al tuo account, apri *I miei ordini*, scegli l'ordine e vai su **Documenti**: "
        "trovi la ricevuta o la fattura in PDF. Se hai ordinato senza registrarti, scrivici con "
        "il numero d'ordine e l'email usata e te la mandiamo noi.",
        PUBLISHED,
    ),
    (
        "fatture",
        "Acquisti per aziende, hotel e agriturismi",
        ("aziende", "preventivo", "sconto quantità"),
        "Per strutture ricettive e aziende offriamo **listini dedicati**: il 12% di sconto da 10 "
        "pezzi dello stesso articolo, spedizione gratuita sopra i 300 € e pagamento con bonifico "
        "a 30 giorni dopo il primo ordine. Chiedici un preventivo dal modulo contatti indicando "
        "articoli e quantità.",
        PUBLISHED,
    ),
    # --- prodotti -----------------------------------------------------------------------------
    (
        "prodotti",
        "Come lavare le lenzuola di lino",
        ("lino", "lavaggio", "cura dei tessuti"),
        "Il lino ama l'acqua: lavalo in lavatrice a **40°** con un detersivo delicato, senza "
        "candeggina né ammorbidente (rovina le fibre). Centrifuga al massimo a 800 giri e stendi "
        "all'aria, meglio all'ombra. Il lino si stira da umido, a temperatura alta; ma molti lo "
        "preferiscono stropicciato, ed è più morbido a ogni lavaggio. Il primo lavaggio può "
        "ridurre le misure del 3-4%: le nostre misure ne tengono già conto.",
        PUBLISHED,
    ),
    (
        "prodotti",
        "Come lavare il plaid in lana merino",
        ("lana", "lavaggio", "plaid"),
        "La lana merino va lavata poco: spesso basta arieggiarla. Quando serve, lavala **a mano "
        "in acqua fredda** o in lavatrice con il programma lana a 30°, senza centrifuga, con un "
        "detersivo per lana. Non strizzarla: premila in un asciugamano e falla asciugare in "
        "piano, lontano dai termosifoni.",
        PUBLISHED,
    ),
    (
        "prodotti",
        "Cura degli asciugamani in cotone biologico",
        ("cotone", "asciugamani", "lavaggio"),
        "Lava gli asciugamani a 60° prima del primo uso, da soli, per fissare il colore e "
        "aumentare l'assorbenza. Evita l'ammorbidente: rende la spugna meno assorbente. In "
        "asciugatrice usa una temperatura media. Un filo tirato non si taglia: si riporta sul "
        "retro con un ago.",
        PUBLISHED,
    ),
    (
        "prodotti",
        "Il sacchetto di lavanda: quanto dura e come ravvivarlo",
        ("lavanda", "profumo"),
        "La nostra lavanda arriva dall'Altopiano di Sault e dalla Val d'Orcia. Un sacchetto "
        "profuma l'armadio per **6-8 mesi**; quando il profumo cala, massaggialo tra le dita per "
        "rompere i fiori oppure aggiungi due gocce di olio essenziale di lavanda. Tiene lontane "
        "le tarme in modo naturale.",
        PUBLISHED,
    ),
    (
        "prodotti",
        "Candele profumate: come farle durare di più",
        ("candela", "cera di soia"),
        "Le nostre candele sono in cera di soia con stoppino in cotone. La prima volta lasciala "
        "accesa finché la cera non è sciolta **fino al bordo** (circa 2 ore): così non si "
        "scava un tunnel. Accorcia lo stoppino a 5 mm prima di ogni accensione e non superare le "
        "4 ore di fila. Durata: circa 40 ore.",
        PUBLISHED,
    ),
    (
        "prodotti",
        "Misure dei completi letto",
        ("misure", "lenzuola", "letto"),
        "- **Singolo**: lenzuolo sotto 90x200, sopra 160x290, una federa 50x80.\n"
        "- **Piazza e mezza**: 120x200, sopra 200x290, una federa.\n"
        "- **Matrimoniale**: 180x200, sopra 250x290, due federe 50x80.\n\n"
        "Il lenzuolo con angoli ha una fascia di 30 cm, adatta a materassi alti fino a 28 cm.",
        PUBLISHED,
    ),
    (
        "prodotti",
        "Dove sono fatti i vostri prodotti?",
        ("made in italy", "artigiani", "materiali"),
        "La maggior parte dei nostri tessuti è tessuta e confezionata in **Toscana e in "
        "Lombardia** da laboratori con cui lavoriamo da anni; le ceramiche vengono da Deruta e "
        "da Caltagirone, la lavanda dalla Provenza e dalla Val d'Orcia. Ogni scheda prodotto "
        "indica origine e materiali.",
        PUBLISHED,
    ),
    (
        "prodotti",
        "Il piumino 4 stagioni: come si usa e come si lava",
        ("piumino", "lavaggio"),
        "Il piumino 4 stagioni è fatto di due piumini uniti da bottoni automatici: quello "
        "leggero per l'estate, quello medio per la mezza stagione, tutti e due insieme per "
        "l'inverno. Si lava in lavatrice da 9 kg a 40° con due palline da tennis, oppure in "
        "lavanderia. Asciugalo completamente prima di riporlo.",
        PUBLISHED,
    ),
    (
        "prodotti",
        "Confezione regalo e biglietto",
        ("regalo", "confezione"),
        "Nel carrello puoi aggiungere la **confezione regalo** (3,50 €): carta di cotone, nastro "
        "di raso e un rametto di lavanda, con un biglietto scritto a mano dal nostro team. Se "
        "spedisci direttamente al destinatario, il prezzo non compare né sul pacco né sul "
        "biglietto.",
        PUBLISHED,
    ),
    (
        "prodotti",
        "Un prodotto è esaurito: quando torna?",
        ("disponibilità", "esaurito"),
        "Nella scheda del prodotto esaurito premi **Avvisami**: ricevi un'email appena torna "
        "disponibile. I tessuti tornano in genere in 2-4 settimane; le ceramiche fatte a mano "
        "anche in 6-8. Per quantità importanti scrivici: possiamo riservarti i pezzi del "
        "prossimo arrivo.",
        PUBLISHED,
    ),
    # --- procedure interne -------------------------------------------------------------------
    (
        "procedure",
        "Procedura: rimborso di un ordine in contrassegno",
        ("rimborso", "contrassegno", "procedura"),
        "1. Chiedi al cliente un IBAN **intestato a lui** (non a terzi).\n2. Verifica in "
        "gestionale che il reso sia arrivato e controllato.\n3. Inserisci la richiesta di "
        "bonifico nel foglio *Rimborsi contrassegno*: l'amministrazione li esegue ogni giorno "
        "alle 11.\n4. Rispondi al cliente con l'importo e i tempi (1-2 giorni lavorativi) e metti "
        "la conversazione in attesa.",
        INTERNAL,
    ),
    (
        "procedure",
        "Procedura: pacco danneggiato, pratica con il corriere",
        ("danneggiato", "corriere", "procedura"),
        "Chiedi sempre **due foto** (articolo e scatola). Con le foto apri la pratica sul "
        "portale del corriere entro 8 giorni dalla consegna. La sostituzione parte subito, senza "
        "aspettare l'esito della pratica, per ordini fino a 150 €; sopra i 150 € serve l'ok di "
        "Paolo. Segna nella nota interna il numero della pratica.",
        INTERNAL,
    ),
    (
        "procedure",
        "Procedura: codici sconto manuali",
        ("codice sconto", "procedura"),
        "Possiamo creare un codice manuale (formato CASA-<numero ordine>) fino a **10 €** o al "
        "10%, valido 7 giorni, quando un codice della newsletter non ha funzionato per un "
        "problema nostro o come scusa per un disservizio. Oltre, chiedi a Paolo. Annota sempre "
        "il codice creato in una nota interna.",
        INTERNAL,
    ),
    (
        "procedure",
        "Tono e firma delle risposte",
        ("stile", "procedura"),
        "Diamo del **lei** per email e modulo, del tu solo se il cliente lo usa per primo (in "
        'chat succede spesso). Apriamo con "Gentile" e il nome, chiudiamo con "Un saluto" e '
        'il nostro nome, seguito da "Casa Lavanda". Niente frasi fatte: diciamo cosa abbiamo '
        "fatto e cosa succede dopo, con le date.",
        INTERNAL,
    ),
)
