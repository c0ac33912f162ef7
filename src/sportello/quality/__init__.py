"""Quality reviews: scorecards, sampled reviews, calibration, coaching and trends."""
