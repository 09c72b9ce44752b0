//! tinct-testkit
