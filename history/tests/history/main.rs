//! The history checker's tests: hand-written histories for each verdict, the JSON Lines form,
//! shrinking and the timeline, and properties over histories made by running the model.

mod hand;
mod jsonl;
mod properties;
mod shrinking;
