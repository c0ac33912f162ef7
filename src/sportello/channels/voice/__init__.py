"""The voice channel: calls through Kamailio and rtpengine, routed by Sportello's ACD."""
