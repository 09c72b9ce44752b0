//! tinct-surfaces
