//! Deterministic pseudo-randomness for the lab: everything "random" the simulator shows
//! (addresses, MACs, load series, which requests a fault hits) derives from `--seed`, so two
//! labs started with the same seed and driven the same way answer the same.
//!
//! Architecture Invariant: never used for secrets (tokens, passwords, ticket keys); those come
//! from the system's random source (`secret_*`).

use ring::rand::{SecureRandom, SystemRandom};

/// SplitMix64: tiny, fast, good enough for simulation (not for anything secret).
#[derive(Debug, Clone)]
pub struct Rng {
    /// The generator state; advances by a fixed odd constant per draw.
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// A float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A stateless hash of `(seed, parts...)`: the same inputs always give the same value.
pub fn hash(seed: u64, parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(mix(seed ^ 0xA076_1D64_78BD_642F), |acc, p| {
            mix(acc ^ p.wrapping_mul(0xE703_7ED1_A0B4_28DB))
        })
}

/// A float in `[0, 1)` from [`hash`].
pub fn unit(seed: u64, parts: &[u64]) -> f64 {
    (hash(seed, parts) >> 11) as f64 / (1u64 << 53) as f64
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` bytes from the system's secure random source.
pub fn secret_bytes(n: usize) -> anyhow::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
    Ok(buf)
}

/// A random UUID-shaped secret, as PVE shows token values.
pub fn secret_uuid() -> anyhow::Result<String> {
    let b = hex::encode(secret_bytes(16)?);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &b[0..8],
        &b[8..12],
        &b[12..16],
        &b[16..20],
        &b[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_eq!(hash(1, &[2, 3]), hash(1, &[2, 3]));
        assert_ne!(hash(1, &[2, 3]), hash(1, &[3, 2]));
        let x = unit(5, &[1]);
        assert!((0.0..1.0).contains(&x));
    }
}
