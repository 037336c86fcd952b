//! The collections a connection carries — its groups, its groups token, its kept messages —
//! abstracted so that each vocabulary stores them its own way: sorted small vectors of strings
//! for [`crate::Text`], a bitset and a fixed array for [`crate::Small`], which makes a checker
//! state a few plain bytes to copy and hash (the checker spent a third of its time cloning and
//! hashing small vectors before).

use smallvec::SmallVec;
use std::fmt::Debug;
use std::hash::Hash;

/// A set of group names, iterated in ascending order.
pub trait GroupSet<G>: Clone + Debug + Default + PartialEq + Eq + Hash + PartialOrd + Ord {
    /// Whether `g` is in the set.
    fn has(&self, g: &G) -> bool;
    /// Add `g`; whether it was new.
    fn put(&mut self, g: G) -> bool;
    /// Remove `g`; whether it was there.
    fn take(&mut self, g: &G) -> bool;
    /// How many.
    fn count(&self) -> usize;
    /// Whether empty.
    fn none(&self) -> bool {
        self.count() == 0
    }
    /// Remove everything.
    fn wipe(&mut self);
    /// The members, ascending.
    fn items(&self) -> impl Iterator<Item = G> + '_;
    /// Keep only the members `f` accepts.
    fn keep(&mut self, f: impl FnMut(&G) -> bool);
}

/// Messages kept for a suspended connection, in order.
pub trait Queue<P>: Clone + Debug + Default + PartialEq + Eq + Hash + PartialOrd + Ord {
    /// Append.
    fn push_back(&mut self, p: P);
    /// How many.
    fn count(&self) -> usize;
    /// Take them all, in order.
    fn take_all(&mut self) -> SmallVec<[P; 4]>;
}

impl<T: Ord + Clone + Debug + Hash> GroupSet<T> for SmallVec<[T; 2]> {
    fn has(&self, g: &T) -> bool {
        self.binary_search(g).is_ok()
    }
    fn put(&mut self, g: T) -> bool {
        match self.binary_search(&g) {
            Ok(_) => false,
            Err(i) => {
                self.insert(i, g);
                true
            }
        }
    }
    fn take(&mut self, g: &T) -> bool {
        match self.binary_search(g) {
            Ok(i) => {
                self.remove(i);
                true
            }
            Err(_) => false,
        }
    }
    fn count(&self) -> usize {
        self.len()
    }
    fn wipe(&mut self) {
        self.clear();
    }
    fn items(&self) -> impl Iterator<Item = T> + '_ {
        self.iter().cloned()
    }
    fn keep(&mut self, mut f: impl FnMut(&T) -> bool) {
        self.retain(|g| f(g));
    }
}

impl<T: Ord + Clone + Debug + Hash> Queue<T> for SmallVec<[T; 2]> {
    fn push_back(&mut self, p: T) {
        self.push(p);
    }
    fn count(&self) -> usize {
        self.len()
    }
    fn take_all(&mut self) -> SmallVec<[T; 4]> {
        self.drain(..).collect()
    }
}

/// Groups `0..32` as bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bits(pub u32);

impl GroupSet<u8> for Bits {
    fn has(&self, g: &u8) -> bool {
        self.0 & (1 << g) != 0
    }
    fn put(&mut self, g: u8) -> bool {
        assert!(g < 32, "the checker's universe has at most 32 groups");
        let new = !self.has(&g);
        self.0 |= 1 << g;
        new
    }
    fn take(&mut self, g: &u8) -> bool {
        let had = self.has(g);
        self.0 &= !(1 << g);
        had
    }
    fn count(&self) -> usize {
        self.0.count_ones() as usize
    }
    fn wipe(&mut self) {
        self.0 = 0;
    }
    fn items(&self) -> impl Iterator<Item = u8> + '_ {
        (0..32u8).filter(|g| self.has(g))
    }
    fn keep(&mut self, mut f: impl FnMut(&u8) -> bool) {
        for g in 0..32u8 {
            if self.has(&g) && !f(&g) {
                self.take(&g);
            }
        }
    }
}

/// Up to 8 small payloads, in order. The checker bounds buffers below that.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fixed {
    len: u8,
    items: [u8; 8],
}

impl Queue<u8> for Fixed {
    fn push_back(&mut self, p: u8) {
        assert!(self.len < 8, "the checker bounds kept messages below 8");
        self.items[usize::from(self.len)] = p;
        self.len += 1;
    }
    fn count(&self) -> usize {
        usize::from(self.len)
    }
    fn take_all(&mut self) -> SmallVec<[u8; 4]> {
        let out = self.items[..usize::from(self.len)]
            .iter()
            .copied()
            .collect();
        *self = Fixed::default();
        out
    }
}
