//! End-to-end harness (grows with the e2e issue).
