//! Which requests in flight the network answers next, and which of them together.

use super::Flight;

/// A choice function: given the flights and the indices of those ready to be answered,
/// the indices to answer now, together and in that order (empty: none now — the clock
/// jumps to the next timer).
pub type Choice = Box<dyn FnMut(&[Flight], &[usize]) -> Vec<usize>>;

/// The order in which [`super::Driver::run`] answers requests.
pub enum Order {
    /// One at a time, oldest first.
    Fifo,
    /// Out of order: each time one to three of the ready requests, chosen and ordered by a
    /// pseudo-random sequence from this seed (the same seed, the same run).
    Seeded(u64),
    /// As the function says.
    Choose(Choice),
}

impl Order {
    /// An order given by a choice function.
    pub fn choose(f: impl FnMut(&[Flight], &[usize]) -> Vec<usize> + 'static) -> Order {
        Order::Choose(Box::new(f))
    }

    /// The flights to answer next among `ready` (not empty).
    pub(super) fn pick(&mut self, flights: &[Flight], ready: &[usize]) -> Vec<usize> {
        match self {
            Order::Fifo => vec![ready[0]],
            Order::Seeded(state) => {
                let mut pool = ready.to_vec();
                let n = 1 + (next(state) % 3) as usize;
                let mut chosen = Vec::new();
                while chosen.len() < n && !pool.is_empty() {
                    let i = (next(state) % pool.len() as u64) as usize;
                    chosen.push(pool.remove(i));
                }
                chosen
            }
            Order::Choose(f) => f(flights, ready),
        }
    }
}

/// splitmix64: the next number of the sequence in `state`.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
