//! UCF101 / HMDB51 frame folders (placeholder, being written).
