//! Cross-service test helpers; the tests live in `tests/`.
