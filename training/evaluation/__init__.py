"""The evaluation stage: metrics, baselines, Qini curves, bootstrap intervals and reports."""
