//! The two vocabularies the one specification is written over.
//!
//! The semantics in [`crate::hub`] are generic over [`Names`]: the readable model ([`Text`])
//! names groups, users and payloads with strings, exactly as a hub server sees them; the model
//! checker ([`Small`]) names them with small integers so that a state is a few bytes to clone
//! and hash. Both are the same definition instantiated twice, never two specifications.

use crate::sets::{Bits, Fixed, GroupSet, Queue};
use serde::{de::DeserializeOwned, Serialize};
use smallvec::SmallVec;
use std::fmt::{Debug, Display};
use std::hash::Hash;

/// A name as the semantics needs it: compared ordinally, ordered, hashed, printed.
pub trait Name:
    Clone + Debug + Display + Ord + Hash + Serialize + DeserializeOwned + 'static
{
    /// Whether this is the empty name, which `Groups(list)` refuses.
    fn is_empty_name(&self) -> bool;
}

impl Name for String {
    fn is_empty_name(&self) -> bool {
        self.is_empty()
    }
}

impl Name for u8 {
    fn is_empty_name(&self) -> bool {
        false
    }
}

/// The vocabulary a [`crate::Hub`] is instantiated with.
pub trait Names: Clone + Copy + Debug + Default + PartialEq + Eq + Hash + Ord + 'static {
    /// A group name. Comparison is ordinal (byte for byte, case-sensitive), as in ASP.NET Core.
    type Group: Name;
    /// A user id as an `IUserIdProvider` would return it.
    type User: Name;
    /// A message payload; the harness makes every payload unique so each delivery is attributable.
    type Payload: Name;
    /// A set of groups (a connection's groups, its groups token, a user's rooms).
    type Groups: GroupSet<Self::Group>;
    /// Messages kept for a suspended connection.
    type Buffer: Queue<Self::Payload>;
}

/// Strings: the vocabulary of transcripts, the harness and the reference hub.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text;

impl Names for Text {
    type Group = String;
    type User = String;
    type Payload = String;
    type Groups = SmallVec<[String; 2]>;
    type Buffer = SmallVec<[String; 2]>;
}

/// Small integers: the vocabulary of the model checker's bounded universe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Small;

impl Names for Small {
    type Group = u8;
    type User = u8;
    type Payload = u8;
    type Groups = Bits;
    type Buffer = Fixed;
}
