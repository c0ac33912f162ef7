"""Sentiment and intent: accuracy on our own labelled sets (bench/data/) and throughput.

    python bench/nlp.py             # 5 timing rounds, medians
    python bench/nlp.py --rounds 9

Sentiment: bench/data/sentiment_it.tsv and sentiment_en.tsv (colloquial customer messages
written for this benchmark, labelled negative/neutral/positive), scored with the shop's
default thresholds; accuracy, per-label recall and the median time per message (the issue
asks < 5 ms). Language identification: the same texts, is each detected as its set's language.
Intent: trained on bench/data/intent_train.csv, tested on intent_test.csv (different wording,
colloquial, Italian and English), accuracy overall and on the texts the model is sure of at the
default threshold, plus training time and prediction time per text.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from sportello.nlp import intent, language, sentiment  # noqa: E402

DATA = ROOT / "data"


def load_tsv(name: str) -> list[tuple[str, str]]:
    with (DATA / name).open(encoding="utf-8") as handle:
        return [(r["label"], r["text"]) for r in csv.DictReader(handle, delimiter="\t")]


def load_csv(name: str) -> list[tuple[str, str]]:
    with (DATA / name).open(encoding="utf-8") as handle:
        return [(r["text"], r["label"]) for r in csv.DictReader(handle)]


def timed(fn, rounds: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    print("## sentiment (default thresholds ±0.2)")
    print(
        "| set | texts | accuracy | recall neg / neu / pos | median ms per message"
        " | language id right |"
    )
    print("|---|---|---|---|---|---|")
    for lang, name in (("it", "sentiment_it.tsv"), ("en", "sentiment_en.tsv")):
        rows = load_tsv(name)
        sentiment.analyse("warm up", lang)
        predicted = [sentiment.analyse(text, lang).label for _, text in rows]
        right = sum(p == gold for p, (gold, _) in zip(predicted, rows, strict=True))
        recall = []
        for label in sentiment.LABELS:
            gold_ix = [i for i, (g, _) in enumerate(rows) if g == label]
            recall.append(sum(predicted[i] == label for i in gold_ix) / max(1, len(gold_ix)))
        seconds = timed(
            lambda rows=rows, lang=lang: [sentiment.analyse(t, lang) for _, t in rows], args.rounds
        )
        detected = sum(language.detect(t)[0] == lang for _, t in rows)
        print(
            f"| {lang} | {len(rows)} | {right / len(rows):.2f} | "
            + " / ".join(f"{r:.2f}" for r in recall)
            + f" | {seconds / len(rows) * 1000:.3f} | {detected}/{len(rows)} |"
        )

    print()
    print("## intent triage (train intent_train.csv, test intent_test.csv, threshold 0.5)")
    train = load_csv("intent_train.csv")
    test = load_csv("intent_test.csv")
    intent.train([t for t, _ in train], [lab for _, lab in train])  # warm up: sklearn's imports
    start = time.perf_counter()
    result = intent.train([t for t, _ in train], [lab for _, lab in train])
    train_s = time.perf_counter() - start
    texts = [t for t, _ in test]
    out = intent.predict(result.model, texts, threshold=0.0)
    right = sum(lab == gold for (lab, _), (_, gold) in zip(out, test, strict=True))
    sure = [(lab, gold) for (lab, c), (_, gold) in zip(out, test, strict=True) if c >= 0.5]
    sure_right = sum(lab == gold for lab, gold in sure)
    per_text = timed(
        lambda: [intent.predict(result.model, [t], threshold=0.5) for t in texts], args.rounds
    )
    batch = timed(lambda: intent.predict(result.model, texts, threshold=0.5), args.rounds)
    print(
        "| train texts | test texts | accuracy | sure at 0.5 | right when sure | train s"
        " | ms per text (one by one) | ms per text (batch) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {len(train)} | {len(test)} | {right / len(test):.2f} | {len(sure)}/{len(test)} | "
        f"{(sure_right / len(sure)) if sure else 0:.2f} | {train_s:.2f} | "
        f"{per_text / len(texts) * 1000:.3f} | {batch / len(texts) * 1000:.3f} |"
    )


if __name__ == "__main__":
    main()
