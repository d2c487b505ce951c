//! 3D ResNets (placeholder, being written).
