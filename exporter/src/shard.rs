//! Which shard an object belongs to. Pure functions of the object's UID, so an object stays on
//! one shard for its whole life, whatever its name or namespace.

use md5::{Digest, Md5};
use std::{fmt, str::FromStr};

/// The hash that maps a UID onto `0..total`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShardHash {
    /// MD5 of the UID's bytes read as a 128-bit big-endian integer, modulo the total.
    #[default]
    Md5,
    /// Upstream kube-state-metrics' code: FNV-1a 64 of the UID, then jump consistent hash. A
    /// fleet using it can mix with upstream shards, and growing N moves only ~1/N of objects.
    Jump,
}

impl ShardHash {
    /// The shard in `0..total` that owns `uid`. `total` 0 is treated as 1.
    pub fn shard_of(self, uid: &str, total: u32) -> u32 {
        let total = total.max(1);
        match self {
            ShardHash::Md5 => {
                let digest: [u8; 16] = Md5::digest(uid.as_bytes()).into();
                (u128::from_be_bytes(digest) % u128::from(total)) as u32
            }
            ShardHash::Jump => jump_hash(fnv1a64(uid.as_bytes()), total),
        }
    }

    /// The flag value (`md5` or `jump`).
    pub fn as_str(self) -> &'static str {
        match self {
            ShardHash::Md5 => "md5",
            ShardHash::Jump => "jump",
        }
    }
}

impl fmt::Display for ShardHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ShardHash {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "md5" => Ok(ShardHash::Md5),
            "jump" => Ok(ShardHash::Jump),
            other => Err(format!("unknown shard hash {other:?} (expected md5 or jump)")),
        }
    }
}

/// FNV-1a 64-bit over `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Jump consistent hash (Lamping & Veach 2014), as github.com/dgryski/go-jump computes it.
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j) = (-1_i64, 0_i64);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1_u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// This process's slice of the objects: keep those whose UID hashes to `shard` of `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardFilter {
    /// The hash in use.
    pub hash: ShardHash,
    /// This shard, counted from zero.
    pub shard: u32,
    /// Number of shards; 1 turns sharding off.
    pub total: u32,
}

impl ShardFilter {
    /// A filter that keeps everything.
    pub fn all() -> Self {
        Self { hash: ShardHash::Md5, shard: 0, total: 1 }
    }

    /// Whether the object with `uid` belongs to this shard.
    pub fn keeps(&self, uid: &str) -> bool {
        if self.total <= 1 {
            // Like upstream, shard 0 of 1 keeps all; any other shard of 1 keeps nothing.
            return self.shard == 0;
        }
        self.hash.shard_of(uid, self.total) == self.shard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Vectors from reference §9.1: uid, FNV-1a 64, jump shard for totals 1..=5.
    const JUMP_VECTORS: &[(&str, u64, [u32; 5])] = &[
        ("", 0xcbf29ce484222325, [0, 1, 1, 1, 1]),
        ("a", 0xaf63dc4c8601ec8c, [0, 1, 2, 2, 2]),
        ("uid-1", 0x8a6b1025215e9243, [0, 0, 0, 0, 0]),
        ("uid-2", 0x8a6b1125215e93f6, [0, 0, 0, 3, 3]),
        ("uid-3", 0x8a6b1225215e95a9, [0, 1, 1, 1, 4]),
        ("5a9b1f3e-2f4c-4d8e-9a1b-0c2d3e4f5a6b", 0xe6b9a39624bcae5b, [0, 0, 2, 2, 4]),
    ];

    #[test]
    fn fnv_and_jump_match_upstream_vectors() {
        for (uid, fnv, shards) in JUMP_VECTORS {
            assert_eq!(fnv1a64(uid.as_bytes()), *fnv, "fnv of {uid:?}");
            let got: Vec<u32> = (1..=5).map(|t| ShardHash::Jump.shard_of(uid, t)).collect();
            assert_eq!(got, shards, "jump shards of {uid:?}");
        }
    }

    #[test]
    fn jump_of_a_single_bucket_is_zero_even_for_the_empty_uid() {
        // The jump loop always runs once, so total 1 gives bucket 0 for any key.
        assert_eq!(jump_hash(0xcbf29ce484222325, 1), 0);
    }

    #[test]
    fn md5_matches_fixed_vectors() {
        // md5("") = d41d8cd98f00b204e9800998ecf8427e; md5("a") = 0cc175b9c0f1b6a831c399e269772661.
        let empty = 0xd41d8cd98f00b204e9800998ecf8427e_u128;
        let a = 0x0cc175b9c0f1b6a831c399e269772661_u128;
        for total in 1..=16_u32 {
            assert_eq!(ShardHash::Md5.shard_of("", total), (empty % u128::from(total)) as u32);
            assert_eq!(ShardHash::Md5.shard_of("a", total), (a % u128::from(total)) as u32);
        }
        // Independently computed with Python's hashlib: int.from_bytes(md5(uid), "big") % t.
        let got: Vec<u32> = (1..=5).map(|t| ShardHash::Md5.shard_of("uid-2", t)).collect();
        assert_eq!(got, [0, 0, 2, 2, 2]);
        let uid = "5a9b1f3e-2f4c-4d8e-9a1b-0c2d3e4f5a6b";
        let got: Vec<u32> = (1..=5).map(|t| ShardHash::Md5.shard_of(uid, t)).collect();
        assert_eq!(got, [0, 0, 2, 2, 0]);
    }

    #[test]
    fn one_shard_keeps_everything_and_other_ordinals_of_one_keep_nothing() {
        let f = ShardFilter { hash: ShardHash::Jump, shard: 0, total: 1 };
        assert!(f.keeps("anything"));
        let f = ShardFilter { hash: ShardHash::Jump, shard: 1, total: 1 };
        assert!(!f.keeps("anything"));
    }

    #[test]
    fn jump_moves_about_one_nth_when_growing() {
        let uids: Vec<String> = (0..10_000).map(|i| format!("uid-{i}")).collect();
        let moved =
            uids.iter().filter(|u| ShardHash::Jump.shard_of(u, 4) != ShardHash::Jump.shard_of(u, 5)).count();
        // Ideal is 1/5 = 2000.
        assert!((1700..2300).contains(&moved), "moved {moved}");
    }

    proptest! {
        #[test]
        fn every_uid_lands_on_exactly_one_shard(uids in prop::collection::vec("[a-f0-9-]{0,40}", 1..50), total in 1u32..=16) {
            for hash in [ShardHash::Md5, ShardHash::Jump] {
                for uid in &uids {
                    let owners = (0..total)
                        .filter(|&s| ShardFilter { hash, shard: s, total }.keeps(uid))
                        .count();
                    prop_assert_eq!(owners, 1);
                }
            }
        }
    }
}
