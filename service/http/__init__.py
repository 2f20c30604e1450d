"""HTTP: routes by resource, strict body decoding, problem+json errors, the SDK and the demo
shop's files. Handlers are thin: they decode, call one part and encode."""
