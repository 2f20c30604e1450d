"""What the tests share: real processes to start and ways to watch them."""
