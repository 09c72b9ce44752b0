//! tinct-service
