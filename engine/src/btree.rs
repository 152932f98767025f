//! The ordered index: a persistent B+ tree from keys to their locations.
//!
//! Nodes are shared between versions behind `Arc`s. Cloning the tree is O(1); a
//! write copies only the nodes on its path that another version still holds
//! (`Arc::make_mut`), and changes the others in place — the writer's tree is
//! usually held by nobody else, so most writes copy nothing.
//!
//! Nodes are wide (up to [`CAP`] entries or children), so a lookup in a tree of a
//! million keys visits four of them, and each node keeps the first eight bytes of
//! its keys ([`Key::prefix`]) in an array of their own: a search reads that dense
//! array and looks at a key itself only when two prefixes tie.
//!
//! Invariants:
//! - Keys are unique and ascending within a leaf and from one leaf to the next;
//!   every leaf is at the same depth.
//! - A branch with children `c0..=cn` has `n` separators: separator `i` is above
//!   every key under `c0..=ci` and at most every key under `c(i+1)`.
//! - `prefixes[i]` is `keys[i].prefix()` in every node.
//! - A node that is neither the root nor on the rightmost path holds at least
//!   [`MIN`] entries or children (appends split the rightmost node unevenly, so
//!   keys loaded in order fill their leaves to [`APPEND_FILL`]); a branch has at
//!   least 2 children.
//! - `len` is the number of keys in the tree.

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

use arrayvec::ArrayVec;

use crate::index::{Key, Loc, Probe};

/// Most entries of a leaf and most children of a branch. Unit tests use narrow
/// nodes so that a few thousand keys make a tree several levels deep.
const CAP: usize = if cfg!(test) { 8 } else { 64 };
/// Fewest entries or children of a node off the rightmost path (but the root).
const MIN: usize = CAP / 4;
/// Entries an append leaves in the full rightmost leaf it splits: keys loaded in
/// order fill 7/8 of each leaf, so the first few keys written later among them
/// find room instead of splitting every leaf they land in (a split allocates a
/// node on fresh pages, which dominates random writes that follow an ordered
/// load). The price is 1/8 more leaves.
const APPEND_FILL: usize = CAP - CAP / 8;
/// Deepest tree a cursor can walk: below the root, every level off the rightmost
/// path multiplies the keys by at least `MIN` (16), so 12 levels hold over 10^13
/// keys — more than fit in memory. (Unit tests' narrow nodes stay far below it.)
const MAX_DEPTH: usize = 12;

// Both variants are a node's worth of bytes and always live behind an `Arc`:
// boxing the larger would add a pointer to follow at every level.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Node {
    Leaf(Leaf),
    Branch(Branch),
}

#[derive(Clone, Default)]
struct Leaf {
    prefixes: ArrayVec<u64, CAP>,
    keys: ArrayVec<Key, CAP>,
    locs: ArrayVec<Loc, CAP>,
}

#[derive(Clone, Default)]
struct Branch {
    /// Separators: one fewer than the children.
    prefixes: ArrayVec<u64, CAP>,
    keys: ArrayVec<Key, CAP>,
    children: ArrayVec<Arc<Node>, CAP>,
}

/// Where `probe` is among `keys`: `Ok` at an equal key, `Err` at the first greater.
fn search(prefixes: &[u64], keys: &[Key], probe: &Probe) -> Result<usize, usize> {
    let (mut lo, mut hi) = (0, prefixes.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        match probe.order_of(prefixes[mid], &keys[mid]) {
            Ordering::Less => lo = mid + 1,
            Ordering::Greater => hi = mid,
            Ordering::Equal => return Ok(mid),
        }
    }
    Err(lo)
}

impl Node {
    fn size(&self) -> usize {
        match self {
            Node::Leaf(leaf) => leaf.keys.len(),
            Node::Branch(branch) => branch.children.len(),
        }
    }
}

impl Leaf {
    fn search(&self, probe: &Probe) -> Result<usize, usize> {
        search(&self.prefixes, &self.keys, probe)
    }

    fn insert_at(&mut self, i: usize, key: Key, loc: Loc) {
        self.prefixes.insert(i, key.prefix());
        self.keys.insert(i, key);
        self.locs.insert(i, loc);
    }

    fn remove_at(&mut self, i: usize) -> Loc {
        self.prefixes.remove(i);
        self.keys.remove(i);
        self.locs.remove(i)
    }

    /// Moves the entries from `at` on into a new leaf.
    fn split_off(&mut self, at: usize) -> Leaf {
        Leaf {
            prefixes: self.prefixes.drain(at..).collect(),
            keys: self.keys.drain(at..).collect(),
            locs: self.locs.drain(at..).collect(),
        }
    }

    fn append(&mut self, other: &mut Leaf) {
        self.prefixes.extend(other.prefixes.drain(..));
        self.keys.extend(other.keys.drain(..));
        self.locs.extend(other.locs.drain(..));
    }
}

impl Branch {
    /// The child whose keys `probe` would be among.
    fn child_for(&self, probe: &Probe) -> usize {
        match search(&self.prefixes, &self.keys, probe) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    /// Adds `child` right after child `i`, `separator` between them.
    fn insert_after(&mut self, i: usize, separator: Key, child: Arc<Node>) {
        self.prefixes.insert(i, separator.prefix());
        self.keys.insert(i, separator);
        self.children.insert(i + 1, child);
    }

    /// Removes child `i + 1` and the separator before it.
    fn remove_after(&mut self, i: usize) -> (Key, Arc<Node>) {
        self.prefixes.remove(i);
        let separator = self.keys.remove(i);
        (separator, self.children.remove(i + 1))
    }

    /// Moves the children from `at` on into a new branch; returns the separator
    /// that stood between them and the new branch.
    fn split_off(&mut self, at: usize) -> (Key, Branch) {
        let right = Branch {
            prefixes: self.prefixes.drain(at..).collect(),
            keys: self.keys.drain(at..).collect(),
            children: self.children.drain(at..).collect(),
        };
        self.prefixes.pop();
        let separator = self.keys.pop().expect("a split branch has separators");
        (separator, right)
    }

    /// Appends `separator` and then every separator and child of `other`.
    fn append(&mut self, separator: Key, other: &mut Branch) {
        self.prefixes.push(separator.prefix());
        self.keys.push(separator);
        self.prefixes.extend(other.prefixes.drain(..));
        self.keys.extend(other.keys.drain(..));
        self.children.extend(other.children.drain(..));
    }

    /// Brings child `i`, which has fallen below `MIN`, back up by merging it with a
    /// neighbour or, when together they would not fit in one node, sharing their
    /// entries evenly (never holding more than `CAP` in either meanwhile).
    fn rebalance(&mut self, i: usize) {
        if self.children.len() < 2 {
            return;
        }
        let left = if i + 1 < self.children.len() {
            i
        } else {
            i - 1
        };
        let (head, tail) = self.children.split_at_mut(left + 1);
        let (l, r) = (Arc::make_mut(&mut head[left]), Arc::make_mut(&mut tail[0]));
        let total = l.size() + r.size();
        let merge = total <= CAP;
        match (l, r) {
            (Node::Leaf(l), Node::Leaf(r)) => {
                if merge {
                    l.append(r);
                } else {
                    let target = total / 2;
                    if l.keys.len() > target {
                        let mut moved = l.split_off(target);
                        moved.append(r);
                        *r = moved;
                    } else {
                        let rest = r.split_off(target - l.keys.len());
                        l.append(r);
                        *r = rest;
                    }
                    self.prefixes[left] = r.prefixes[0];
                    self.keys[left] = r.keys[0].clone();
                }
            }
            (Node::Branch(l), Node::Branch(r)) => {
                let separator = self.keys[left].clone();
                if merge {
                    l.append(separator, r);
                } else {
                    let target = total / 2;
                    let up = match l.children.len().cmp(&target) {
                        Ordering::Greater => {
                            let (up, mut moved) = l.split_off(target);
                            moved.append(separator, r);
                            *r = moved;
                            up
                        }
                        Ordering::Less => {
                            let (up, rest) = r.split_off(target - l.children.len());
                            l.append(separator, r);
                            *r = rest;
                            up
                        }
                        Ordering::Equal => separator,
                    };
                    self.prefixes[left] = up.prefix();
                    self.keys[left] = up;
                }
            }
            _ => unreachable!("siblings are at the same depth"),
        }
        if merge {
            self.remove_after(left);
        }
    }
}

enum Inserted {
    Replaced(Loc),
    Added,
    /// The node split: the separator and the new node to its right.
    Split(Key, Arc<Node>),
}

/// Inserts into the subtree at `node`; `rightmost` if it is on the tree's right edge.
fn insert_into(node: &mut Node, key: Key, loc: Loc, rightmost: bool) -> Inserted {
    match node {
        Node::Leaf(leaf) => {
            let i = match leaf.search(&Probe::new(&key)) {
                Ok(i) => return Inserted::Replaced(std::mem::replace(&mut leaf.locs[i], loc)),
                Err(i) => i,
            };
            if leaf.keys.len() < CAP {
                leaf.insert_at(i, key, loc);
                return Inserted::Added;
            }
            // An append to the last leaf leaves it nearly full: keys loaded in
            // order fill every leaf to APPEND_FILL instead of half of each.
            let at = if rightmost && i == CAP {
                APPEND_FILL
            } else {
                CAP / 2
            };
            let mut right = leaf.split_off(at);
            if i < at {
                leaf.insert_at(i, key, loc);
            } else {
                right.insert_at(i - at, key, loc);
            }
            Inserted::Split(right.keys[0].clone(), Arc::new(Node::Leaf(right)))
        }
        Node::Branch(branch) => {
            let c = branch.child_for(&Probe::new(&key));
            let last = c + 1 == branch.children.len();
            let child = Arc::make_mut(&mut branch.children[c]);
            let (separator, new_child) = match insert_into(child, key, loc, rightmost && last) {
                Inserted::Split(separator, new_child) => (separator, new_child),
                done => return done,
            };
            if branch.children.len() < CAP {
                branch.insert_after(c, separator, new_child);
                return Inserted::Added;
            }
            let at = if rightmost && last { CAP - 1 } else { CAP / 2 };
            let (up, mut right) = branch.split_off(at);
            if c < at {
                branch.insert_after(c, separator, new_child);
            } else {
                right.insert_after(c - at, separator, new_child);
            }
            Inserted::Split(up, Arc::new(Node::Branch(right)))
        }
    }
}

/// Where a run of inserts into a subtree stopped.
enum RunStop {
    /// Every entry of the run is in.
    Done,
    /// The next key lies outside the subtree's bounds: its parent places it.
    Outside,
    /// The next key would split a full leaf: left to `insert_into`, from the root.
    Full,
}

/// Inserts the entries of `run` into the subtree at `node`, whose keys lie in
/// `[lower, upper)`, for as long as they fall within those bounds and no node
/// needs to split; `report` is told, entry by entry, the location each replaced
/// and is handed the entry's `T`. Each node on the way is made unshared once for
/// all the entries it takes: a run of keys in order finds its leaf without a
/// descent from the root per key.
fn insert_run<T, I: Iterator<Item = (Key, Loc, T)>>(
    node: &mut Node,
    (lower, upper): (Option<&Key>, Option<&Key>),
    run: &mut std::iter::Peekable<I>,
    added: &mut usize,
    report: &mut impl FnMut(Option<Loc>, T),
) -> RunStop {
    let outside = |key: &Key| lower.is_some_and(|l| key < l) || upper.is_some_and(|u| key >= u);
    match node {
        Node::Leaf(leaf) => loop {
            let Some((key, ..)) = run.peek() else {
                return RunStop::Done;
            };
            if outside(key) {
                return RunStop::Outside;
            }
            match leaf.search(&Probe::new(key)) {
                Ok(i) => {
                    let (_, loc, t) = run.next().expect("peeked");
                    report(Some(std::mem::replace(&mut leaf.locs[i], loc)), t);
                }
                Err(_) if leaf.keys.len() == CAP => return RunStop::Full,
                Err(i) => {
                    let (key, loc, t) = run.next().expect("peeked");
                    leaf.insert_at(i, key, loc);
                    *added += 1;
                    report(None, t);
                }
            }
        },
        Node::Branch(Branch {
            prefixes,
            keys,
            children,
        }) => loop {
            let Some((key, ..)) = run.peek() else {
                return RunStop::Done;
            };
            if outside(key) {
                return RunStop::Outside;
            }
            let c = match search(prefixes, keys, &Probe::new(key)) {
                Ok(i) => i + 1,
                Err(i) => i,
            };
            let bounds = (
                c.checked_sub(1).map(|i| &keys[i]).or(lower),
                keys.get(c).or(upper),
            );
            match insert_run(Arc::make_mut(&mut children[c]), bounds, run, added, report) {
                RunStop::Outside => continue,
                stop => return stop,
            }
        },
    }
}

fn remove_from(node: &mut Node, probe: &Probe) -> Option<Loc> {
    match node {
        Node::Leaf(leaf) => {
            let i = leaf.search(probe).ok()?;
            Some(leaf.remove_at(i))
        }
        Node::Branch(branch) => {
            let c = branch.child_for(probe);
            let old = remove_from(Arc::make_mut(&mut branch.children[c]), probe)?;
            if branch.children[c].size() < MIN {
                branch.rebalance(c);
            }
            Some(old)
        }
    }
}

/// The persistent ordered map from keys to locations.
#[derive(Clone)]
pub struct Index {
    root: Arc<Node>,
    len: usize,
}

impl Default for Index {
    fn default() -> Index {
        Index::new()
    }
}

/// Answers whether the tree holds each of a series of keys; fastest when they
/// come in ascending order: a key in the node the one before was found in (or
/// near it) is looked for from there, not from the root.
pub struct Finger<'a> {
    root: &'a Node,
    /// The nodes from the root to the last leaf searched, each with the
    /// bounds of its keys: `[lower, upper)`.
    path: ArrayVec<(&'a Node, Option<&'a Key>, Option<&'a Key>), MAX_DEPTH>,
}

impl<'a> Finger<'a> {
    pub fn contains(&mut self, key: &[u8]) -> bool {
        let outside = |lower: Option<&Key>, upper: Option<&Key>| {
            lower.is_some_and(|l| key < &l[..]) || upper.is_some_and(|u| key >= &u[..])
        };
        while let Some(&(_, lower, upper)) = self.path.last() {
            if !outside(lower, upper) {
                break;
            }
            self.path.pop();
        }
        if self.path.is_empty() {
            self.path.push((self.root, None, None));
        }
        let probe = Probe::new(key);
        loop {
            let &(node, lower, upper) = self.path.last().expect("the root at least");
            match node {
                Node::Leaf(leaf) => return leaf.search(&probe).is_ok(),
                Node::Branch(branch) => {
                    let c = branch.child_for(&probe);
                    let lower = c.checked_sub(1).map(|i| &branch.keys[i]).or(lower);
                    let upper = branch.keys.get(c).or(upper);
                    self.path.push((&branch.children[c], lower, upper));
                }
            }
        }
    }
}

impl Index {
    pub fn new() -> Index {
        Index {
            root: Arc::new(Node::Leaf(Leaf::default())),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// A [`Finger`] over this tree.
    pub fn finger(&self) -> Finger<'_> {
        Finger {
            root: &self.root,
            path: ArrayVec::new(),
        }
    }

    pub fn get(&self, probe: &Probe) -> Option<&Loc> {
        let mut node = &*self.root;
        loop {
            match node {
                Node::Branch(branch) => node = &branch.children[branch.child_for(probe)],
                Node::Leaf(leaf) => return leaf.search(probe).ok().map(|i| &leaf.locs[i]),
            }
        }
    }

    /// Sets the location of `key`, returning the one it replaces.
    pub fn insert(&mut self, key: Key, loc: Loc) -> Option<Loc> {
        match insert_into(Arc::make_mut(&mut self.root), key, loc, true) {
            Inserted::Replaced(old) => Some(old),
            Inserted::Added => {
                self.len += 1;
                None
            }
            Inserted::Split(separator, right) => {
                self.len += 1;
                let mut root = Branch::default();
                root.children.push(self.root.clone());
                root.insert_after(0, separator, right);
                self.root = Arc::new(Node::Branch(root));
                None
            }
        }
    }

    /// Sets the location of each key of `entries`, in order, as `insert` would
    /// one by one, telling `report` the location each replaced (with the
    /// entry's `T`). Fastest when the keys come in ascending order: entries
    /// that land in the same leaf are placed there without a descent from the
    /// root each; any order is correct.
    pub fn insert_all<T>(
        &mut self,
        entries: impl IntoIterator<Item = (Key, Loc, T)>,
        mut report: impl FnMut(Option<Loc>, T),
    ) {
        let mut run = entries.into_iter().peekable();
        loop {
            let mut added = 0;
            let root = Arc::make_mut(&mut self.root);
            let stop = insert_run(root, (None, None), &mut run, &mut added, &mut report);
            self.len += added;
            match stop {
                RunStop::Done => return,
                RunStop::Outside => unreachable!("the root has no bounds"),
                RunStop::Full => {
                    let (key, loc, t) = run.next().expect("a run stops full at an entry");
                    report(self.insert(key, loc), t);
                }
            }
        }
    }

    /// Removes `probe`'s key, returning its location.
    pub fn remove(&mut self, probe: &Probe) -> Option<Loc> {
        // Looking first keeps a shared path uncopied when there is nothing to remove.
        self.get(probe)?;
        let old = remove_from(Arc::make_mut(&mut self.root), probe);
        debug_assert!(old.is_some());
        self.len -= 1;
        if let Node::Branch(root) = &*self.root {
            if root.children.len() == 1 {
                self.root = root.children[0].clone();
            }
        }
        old
    }

    /// The entries with keys within `bounds`, in order from either end.
    pub fn range(&self, (start, end): (Bound<&[u8]>, Bound<&[u8]>)) -> Range<'_> {
        Range {
            root: &self.root,
            start: start.map(Key::new),
            end: end.map(Key::new),
            front: End::Unstarted,
            back: End::Unstarted,
            front_last: None,
            back_last: None,
        }
    }

    pub fn iter(&self) -> Range<'_> {
        self.range((Bound::Unbounded, Bound::Unbounded))
    }

    pub fn values(&self) -> impl Iterator<Item = &Loc> {
        self.iter().map(|(_, loc)| loc)
    }
}

impl PartialEq for Index {
    fn eq(&self, other: &Index) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A position at an entry: the branches above its leaf, each with the index of
/// the child taken, then the leaf and the entry's index in it.
struct Cursor<'a> {
    path: ArrayVec<(&'a Branch, usize), MAX_DEPTH>,
    leaf: &'a Leaf,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Descends from `node` to a leaf, taking at each branch the child `choose`
    /// picks; `pos` is then `locate(leaf)`, which may be one past either end.
    fn descend(
        mut node: &'a Node,
        choose: impl Fn(&Branch) -> usize,
        locate: impl FnOnce(&Leaf) -> isize,
    ) -> (Cursor<'a>, isize) {
        let mut path = ArrayVec::new();
        loop {
            match node {
                Node::Branch(branch) => {
                    let c = choose(branch);
                    path.push((branch, c));
                    node = &branch.children[c];
                }
                Node::Leaf(leaf) => {
                    let pos = locate(leaf);
                    return (Cursor { path, leaf, pos: 0 }, pos);
                }
            }
        }
    }

    fn entry(&self) -> (&'a Key, &'a Loc) {
        (&self.leaf.keys[self.pos], &self.leaf.locs[self.pos])
    }

    /// Moves to the first entry of the next non-empty leaf; false if there is none.
    fn next_leaf(&mut self) -> bool {
        loop {
            let (branch, c) = loop {
                let Some((branch, c)) = self.path.pop() else {
                    return false;
                };
                if c + 1 < branch.children.len() {
                    break (branch, c + 1);
                }
            };
            self.path.push((branch, c));
            let mut node = &*branch.children[c];
            while let Node::Branch(b) = node {
                self.path.push((b, 0));
                node = &b.children[0];
            }
            let Node::Leaf(leaf) = node else {
                unreachable!()
            };
            if !leaf.keys.is_empty() {
                self.leaf = leaf;
                self.pos = 0;
                return true;
            }
        }
    }

    /// Moves to the last entry of the previous non-empty leaf; false if there is none.
    fn prev_leaf(&mut self) -> bool {
        loop {
            let (branch, c) = loop {
                let Some((branch, c)) = self.path.pop() else {
                    return false;
                };
                if c > 0 {
                    break (branch, c - 1);
                }
            };
            self.path.push((branch, c));
            let mut node = &*branch.children[c];
            while let Node::Branch(b) = node {
                let last = b.children.len() - 1;
                self.path.push((b, last));
                node = &b.children[last];
            }
            let Node::Leaf(leaf) = node else {
                unreachable!()
            };
            if let Some(last) = leaf.keys.len().checked_sub(1) {
                self.leaf = leaf;
                self.pos = last;
                return true;
            }
        }
    }

    /// Moves to `pos` in the leaf or, past its end, to the nearest entry after.
    fn at_or_after(&mut self, pos: isize) -> bool {
        if (pos as usize) < self.leaf.keys.len() {
            self.pos = pos as usize;
            true
        } else {
            self.next_leaf()
        }
    }

    /// Moves to `pos` in the leaf or, before its start, to the nearest entry before.
    fn at_or_before(&mut self, pos: isize) -> bool {
        if pos >= 0 {
            self.pos = pos as usize;
            true
        } else {
            self.prev_leaf()
        }
    }

    fn forward(&mut self) -> bool {
        self.pos += 1;
        self.pos < self.leaf.keys.len() || self.next_leaf()
    }

    fn backward(&mut self) -> bool {
        match self.pos.checked_sub(1) {
            Some(pos) => {
                self.pos = pos;
                true
            }
            None => self.prev_leaf(),
        }
    }
}

/// The first entry within `start`.
fn seek_first<'a>(root: &'a Node, start: &Bound<Key>) -> Option<Cursor<'a>> {
    let (cursor, pos) = match start {
        Bound::Unbounded => Cursor::descend(root, |_| 0, |_| 0),
        Bound::Included(key) | Bound::Excluded(key) => {
            let probe = Probe::new(key);
            let excluded = matches!(start, Bound::Excluded(_));
            Cursor::descend(
                root,
                |branch| branch.child_for(&probe),
                |leaf| match leaf.search(&probe) {
                    Ok(i) if excluded => i as isize + 1,
                    Ok(i) | Err(i) => i as isize,
                },
            )
        }
    };
    let mut cursor = cursor;
    cursor.at_or_after(pos).then_some(cursor)
}

/// The last entry within `end`.
fn seek_last<'a>(root: &'a Node, end: &Bound<Key>) -> Option<Cursor<'a>> {
    let (cursor, pos) = match end {
        Bound::Unbounded => Cursor::descend(
            root,
            |branch| branch.children.len() - 1,
            |leaf| leaf.keys.len() as isize - 1,
        ),
        Bound::Included(key) | Bound::Excluded(key) => {
            let probe = Probe::new(key);
            let excluded = matches!(end, Bound::Excluded(_));
            Cursor::descend(
                root,
                |branch| branch.child_for(&probe),
                |leaf| match leaf.search(&probe) {
                    Ok(i) if !excluded => i as isize,
                    Ok(i) | Err(i) => i as isize - 1,
                },
            )
        }
    };
    let mut cursor = cursor;
    cursor.at_or_before(pos).then_some(cursor)
}

// The cursor is kept inline: a range is made per scan, and its cursor should not
// cost an allocation of its own.
#[allow(clippy::large_enum_variant)]
enum End<'a> {
    Unstarted,
    At(Cursor<'a>),
    Done,
}

/// The entries of a range of keys, walked from either end; each end seeks only
/// when first asked for an entry, so a forward scan never looks for the last key.
pub struct Range<'a> {
    root: &'a Node,
    start: Bound<Key>,
    end: Bound<Key>,
    front: End<'a>,
    back: End<'a>,
    /// The keys last taken from each end: the other end stops before them.
    front_last: Option<&'a Key>,
    back_last: Option<&'a Key>,
}

impl<'a> Range<'a> {
    /// The location of the entry one end would consider next, if that end has
    /// started: a hint for prefetching, not checked against the bounds.
    #[inline]
    pub fn upcoming(&self, back: bool) -> Option<&'a Loc> {
        match if back { &self.back } else { &self.front } {
            End::At(cursor) => Some(cursor.entry().1),
            End::Unstarted | End::Done => None,
        }
    }

    /// The locations of up to `max` entries one end would consider next, as
    /// far as its cursor's leaf holds them, in key order (from the back, the
    /// nearest is last): hints for prefetching, not checked against the bounds.
    #[inline]
    pub fn upcoming_run(&self, back: bool, max: usize) -> &'a [Loc] {
        match if back { &self.back } else { &self.front } {
            End::At(Cursor { leaf, pos, .. }) if back => {
                &leaf.locs[(pos + 1).saturating_sub(max)..=*pos]
            }
            End::At(Cursor { leaf, pos, .. }) => &leaf.locs[*pos..(pos + max).min(leaf.locs.len())],
            End::Unstarted | End::Done => &[],
        }
    }
}

fn within_end(key: &Key, end: &Bound<Key>) -> bool {
    match end {
        Bound::Unbounded => true,
        Bound::Included(end) => key <= end,
        Bound::Excluded(end) => key < end,
    }
}

fn within_start(key: &Key, start: &Bound<Key>) -> bool {
    match start {
        Bound::Unbounded => true,
        Bound::Included(start) => key >= start,
        Bound::Excluded(start) => key > start,
    }
}

impl<'a> End<'a> {
    /// Takes the entry at this end's cursor — seeking first if the end has not
    /// started — if `wanted` accepts its key, and steps past it with `step`.
    fn take(
        &mut self,
        seek: impl FnOnce() -> Option<Cursor<'a>>,
        wanted: impl FnOnce(&Key) -> bool,
        step: impl FnOnce(&mut Cursor<'a>) -> bool,
    ) -> Option<(&'a Key, &'a Loc)> {
        if let End::Unstarted = self {
            *self = seek().map_or(End::Done, End::At);
        }
        // The cursor is stepped where it lies: it is a few hundred bytes.
        let End::At(cursor) = self else {
            return None;
        };
        let (key, loc) = cursor.entry();
        if !wanted(key) {
            *self = End::Done;
            return None;
        }
        if !step(cursor) {
            *self = End::Done;
        }
        Some((key, loc))
    }
}

impl<'a> Iterator for Range<'a> {
    type Item = (&'a Key, &'a Loc);

    fn next(&mut self) -> Option<Self::Item> {
        let (root, start, end, back_last) = (self.root, &self.start, &self.end, self.back_last);
        let item = self.front.take(
            || seek_first(root, start),
            |key| within_end(key, end) && back_last.is_none_or(|last| key < last),
            Cursor::forward,
        )?;
        self.front_last = Some(item.0);
        Some(item)
    }
}

impl<'a> DoubleEndedIterator for Range<'a> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let (root, start, end, front_last) = (self.root, &self.start, &self.end, self.front_last);
        let item = self.back.take(
            || seek_last(root, end),
            |key| within_start(key, start) && front_last.is_none_or(|last| key > last),
            Cursor::backward,
        )?;
        self.back_last = Some(item.0);
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn loc(n: u64) -> Loc {
        Loc {
            seq: n,
            segment: n as u32,
            offset: 0,
            len: 0,
        }
    }

    /// Checks the invariants in the module comment; returns the depth.
    fn check_node(
        node: &Node,
        lower: Option<&Key>,
        upper: Option<&Key>,
        is_root: bool,
        rightmost: bool,
    ) -> usize {
        let keys: &[Key] = match node {
            Node::Leaf(leaf) => &leaf.keys,
            Node::Branch(branch) => &branch.keys,
        };
        let prefixes: &[u64] = match node {
            Node::Leaf(leaf) => &leaf.prefixes,
            Node::Branch(branch) => &branch.prefixes,
        };
        assert_eq!(prefixes.len(), keys.len());
        for (p, k) in prefixes.iter().zip(keys) {
            assert_eq!(*p, k.prefix());
            assert!(lower.is_none_or(|l| k >= l));
            assert!(upper.is_none_or(|u| k < u));
        }
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        if !is_root && !rightmost {
            assert!(node.size() >= MIN, "a node below MIN: {}", node.size());
        }
        match node {
            Node::Leaf(leaf) => {
                assert_eq!(leaf.locs.len(), leaf.keys.len());
                1
            }
            Node::Branch(branch) => {
                assert_eq!(branch.keys.len() + 1, branch.children.len());
                assert!(branch.children.len() >= 2);
                let depths: Vec<usize> = (0..branch.children.len())
                    .map(|i| {
                        let lo = if i == 0 {
                            lower
                        } else {
                            Some(&branch.keys[i - 1])
                        };
                        let hi = branch.keys.get(i).or(upper);
                        let last = i + 1 == branch.children.len();
                        check_node(&branch.children[i], lo, hi, false, rightmost && last)
                    })
                    .collect();
                assert!(
                    depths.iter().all(|d| *d == depths[0]),
                    "leaves at different depths"
                );
                depths[0] + 1
            }
        }
    }

    fn check(index: &Index, model: &BTreeMap<Vec<u8>, Loc>) {
        check_node(&index.root, None, None, true, true);
        assert_eq!(index.len(), model.len());
        let got: Vec<(Vec<u8>, Loc)> = index.iter().map(|(k, l)| (k.to_vec(), *l)).collect();
        let want: Vec<(Vec<u8>, Loc)> = model.iter().map(|(k, l)| (k.clone(), *l)).collect();
        assert_eq!(got, want);
    }

    fn key_of(n: u16) -> Vec<u8> {
        // Shared prefixes, so searches fall through to comparing whole keys.
        format!("key-{n:05}").into_bytes()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16),
        Remove(u16),
        Snapshot,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u16..3000).prop_map(Op::Insert),
            3 => (0u16..3000).prop_map(Op::Remove),
            1 => Just(Op::Snapshot),
        ]
    }

    fn bound(kind: u8, n: u16) -> Bound<Vec<u8>> {
        match kind % 3 {
            0 => Bound::Unbounded,
            1 => Bound::Included(key_of(n)),
            _ => Bound::Excluded(key_of(n)),
        }
    }

    fn as_slice(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
        b.as_ref().map(|v| &v[..])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        // Snapshots taken along the way keep their contents while the tree changes.
        fn behaves_like_a_btreemap(ops in prop::collection::vec(op(), 1..4000)) {
            let mut index = Index::new();
            let mut model = BTreeMap::new();
            let mut snapshots = Vec::new();
            for (n, op) in ops.iter().enumerate() {
                match *op {
                    Op::Insert(k) => {
                        let key = key_of(k);
                        prop_assert_eq!(index.insert(Key::new(&key), loc(n as u64)), model.insert(key, loc(n as u64)));
                    }
                    Op::Remove(k) => {
                        let key = key_of(k);
                        prop_assert_eq!(index.remove(&Probe::new(&key)), model.remove(&key));
                    }
                    Op::Snapshot => snapshots.push((index.clone(), model.clone())),
                }
            }
            check(&index, &model);
            for (snapshot, model) in &snapshots {
                check(snapshot, model);
            }
            for k in (0..3000).step_by(7) {
                let key = key_of(k);
                prop_assert_eq!(index.get(&Probe::new(&key)), model.get(&key));
                prop_assert_eq!(index.get(&Probe::new(&key)).is_some(), model.contains_key(&key));
            }
        }

        #[test]
        fn ranges_from_both_ends_agree_with_a_btreemap(
            keys in prop::collection::btree_set(0u16..2000, 0..1500),
            (start_kind, start) in (0u8..3, 0u16..2000),
            (end_kind, end) in (0u8..3, 0u16..2000),
            turns in prop::collection::vec(any::<bool>(), 0..200),
        ) {
            let mut index = Index::new();
            let mut model = BTreeMap::new();
            for k in &keys {
                index.insert(Key::new(&key_of(*k)), loc(*k as u64));
                model.insert(key_of(*k), loc(*k as u64));
            }
            let (start, end) = (bound(start_kind, start), bound(end_kind, end));
            let inverted = match (&start, &end) {
                (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) => {
                    s > e || (s == e && !(matches!(start, Bound::Included(_)) && matches!(end, Bound::Included(_))))
                }
                _ => false,
            };
            let mut want: std::collections::VecDeque<(Vec<u8>, Loc)> = if inverted {
                Default::default()
            } else {
                model.range((start.clone(), end.clone())).map(|(k, l)| (k.clone(), *l)).collect()
            };
            let mut range = index.range((as_slice(&start), as_slice(&end)));
            // Alternate ends as `turns` says, then drain from the front.
            for back in turns.iter().copied().chain(std::iter::repeat_n(false, want.len() + 2)) {
                let (got, expected) = if back {
                    (range.next_back(), want.pop_back())
                } else {
                    (range.next(), want.pop_front())
                };
                prop_assert_eq!(got.map(|(k, l)| (k.to_vec(), *l)), expected);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        // Runs in order (as a commit gives them), with repeated keys, or in any
        // order, into a tree a snapshot shares: as many single inserts.
        fn inserting_a_run_is_inserting_its_keys_one_by_one(
            start in prop::collection::btree_set(0u16..3000, 0..2500),
            runs in prop::collection::vec(
                (prop::collection::vec(0u16..3000, 0..1200), any::<bool>()),
                1..5,
            ),
        ) {
            let mut index = Index::new();
            let mut model = BTreeMap::new();
            for k in &start {
                index.insert(Key::new(&key_of(*k)), loc(*k as u64));
                model.insert(key_of(*k), loc(*k as u64));
            }
            let mut n = 10_000u64;
            for (mut keys, sorted) in runs {
                if sorted {
                    keys.sort();
                }
                let before = (index.clone(), model.clone());
                let entries: Vec<(Key, Loc, usize)> = keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (Key::new(&key_of(*k)), loc(n + i as u64), i))
                    .collect();
                let mut reported = Vec::new();
                index.insert_all(entries, |old, i| reported.push((i, old)));
                let want: Vec<(usize, Option<Loc>)> = keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (i, model.insert(key_of(*k), loc(n + i as u64))))
                    .collect();
                prop_assert_eq!(reported, want);
                check(&index, &model);
                check(&before.0, &before.1);
                n += 10_000;
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        // Asked in ascending order (as a commit asks), or in any order.
        fn a_finger_finds_what_the_tree_holds(
            keys in prop::collection::btree_set(0u16..3000, 0..2500),
            mut asked in prop::collection::vec(0u16..3000, 0..1500),
            sorted in any::<bool>(),
        ) {
            let mut index = Index::new();
            for k in &keys {
                index.insert(Key::new(&key_of(*k)), loc(*k as u64));
            }
            if sorted {
                asked.sort();
            }
            let mut finger = index.finger();
            for k in asked {
                prop_assert_eq!(finger.contains(&key_of(k)), keys.contains(&k), "key {}", k);
            }
        }
    }

    #[test]
    fn keys_loaded_in_order_fill_their_leaves_leaving_room() {
        let mut index = Index::new();
        for k in 0..(CAP * CAP * CAP * 4) as u64 {
            index.insert(Key::new(&k.to_be_bytes()), loc(k));
        }
        fn leaf_sizes(node: &Node, sizes: &mut Vec<usize>) {
            match node {
                Node::Leaf(leaf) => sizes.push(leaf.keys.len()),
                Node::Branch(branch) => branch.children.iter().for_each(|c| leaf_sizes(c, sizes)),
            }
        }
        let depth = check_node(&index.root, None, None, true, true);
        assert!(depth >= 4, "a tree {depth} levels deep");
        let mut sizes = Vec::new();
        leaf_sizes(&index.root, &mut sizes);
        let (last, filled) = sizes.split_last().unwrap();
        assert!(filled.iter().all(|s| *s == APPEND_FILL), "{sizes:?}");
        assert!(*last >= 1);

        // Keys written later between loaded ones fill that room without a split.
        let leaves = sizes.len();
        for k in 0..(CAP - APPEND_FILL) as u64 {
            let between = [&(k).to_be_bytes()[..], &[0]].concat();
            index.insert(Key::new(&between), loc(k));
        }
        sizes.clear();
        leaf_sizes(&index.root, &mut sizes);
        assert_eq!(sizes.len(), leaves, "no leaf was split");
        assert_eq!(sizes[0], CAP);
        check_node(&index.root, None, None, true, true);
    }

    #[test]
    // Draining a run of keys out of a tree of full nodes empties whole subtrees
    // beside full neighbours: nodes are merged and shared at every level.
    fn removing_runs_of_keys_keeps_the_tree_balanced() {
        let runs = [(0, 700), (300, 1100), (1500, 2048), (100, 2000)];
        // Loaded in order (leaves filled to APPEND_FILL) or scattered (nodes
        // split half way).
        for (run, stride, reverse) in runs
            .into_iter()
            .flat_map(|r| [(r, 1, true), (r, 733, false), (r, 733, true)])
        {
            let mut index = Index::new();
            let mut model = BTreeMap::new();
            for i in 0..2048u16 {
                let k = ((i as u32 * stride) % 2048) as u16;
                index.insert(Key::new(&key_of(k)), loc(k as u64));
                model.insert(key_of(k), loc(k as u64));
            }
            let mut order: Vec<u16> = (run.0..run.1).collect();
            if reverse {
                order.reverse();
            }
            for k in order {
                assert_eq!(
                    index.remove(&Probe::new(&key_of(k))),
                    model.remove(&key_of(k))
                );
                if k % 64 == 0 {
                    check(&index, &model);
                }
            }
            check(&index, &model);
            for k in (0..2048u16).step_by(3) {
                assert_eq!(index.get(&Probe::new(&key_of(k))), model.get(&key_of(k)));
            }
        }
    }

    #[test]
    fn upcoming_names_the_entry_each_end_takes_next() {
        let mut index = Index::new();
        for k in 0..100u16 {
            index.insert(Key::new(&key_of(k)), loc(k as u64));
        }
        let mut range = index.iter();
        assert_eq!(range.upcoming(false), None, "not started");
        for k in 0..40u64 {
            assert_eq!(range.next().map(|(_, l)| *l), Some(loc(k)));
            assert_eq!(range.upcoming(false), Some(&loc(k + 1)));
        }
        assert_eq!(range.next_back().map(|(_, l)| *l), Some(loc(99)));
        assert_eq!(range.upcoming(true), Some(&loc(98)));
    }

    #[test]
    fn upcoming_run_names_the_entries_each_end_takes_next_within_a_leaf() {
        let mut index = Index::new();
        for k in 0..1000u16 {
            index.insert(Key::new(&key_of(k)), loc(k as u64));
        }
        let mut range = index.iter();
        assert!(range.upcoming_run(false, 4).is_empty(), "not started");
        let (mut front, mut back) = (0u64, 999u64);
        while front < back {
            assert_eq!(range.next().map(|(_, l)| *l), Some(loc(front)));
            front += 1;
            let run = range.upcoming_run(false, 4);
            assert!(!run.is_empty() && run.len() <= 4, "{} hints", run.len());
            let want: Vec<Loc> = (front..front + run.len() as u64).map(loc).collect();
            assert_eq!(run, &want[..], "front at {front}");
            assert_eq!(range.next_back().map(|(_, l)| *l), Some(loc(back)));
            back -= 1;
            let run = range.upcoming_run(true, 3);
            assert!(!run.is_empty() && run.len() <= 3);
            let want: Vec<Loc> = (back + 1 - run.len() as u64..=back).map(loc).collect();
            assert_eq!(run, &want[..], "back at {back}");
        }
    }

    #[test]
    fn writes_copy_only_the_shared_path() {
        let mut index = Index::new();
        for k in 0..10_000u32 {
            index.insert(Key::new(&k.to_be_bytes()), loc(k as u64));
        }
        let snapshot = index.clone();
        index.insert(Key::new(&5u32.to_be_bytes()), loc(99));
        let (Node::Branch(a), Node::Branch(b)) = (&*index.root, &*snapshot.root) else {
            panic!()
        };
        let shared = a
            .children
            .iter()
            .zip(&b.children)
            .filter(|(x, y)| Arc::ptr_eq(x, y))
            .count();
        assert_eq!(
            shared,
            a.children.len() - 1,
            "only the written child is copied"
        );
        assert_eq!(
            snapshot.get(&Probe::new(&5u32.to_be_bytes())),
            Some(&loc(5))
        );
        assert_eq!(index.get(&Probe::new(&5u32.to_be_bytes())), Some(&loc(99)));
    }
}
