//! `hubspec-refhub`: run the reference hub.

fn main() {}
