"""The data stage: clickstream readers, the shopper simulator, labels and encoded sessions."""
