//! Manifests and indexes as a registry serves them: `media_type_of` (Content-Type or the
//! body), `parse` with every media type, and `docker_to_oci` (the OCI-typed rewrite
//! `tug pull` writes into OCI outputs).
//!
//! The first input byte picks the `Content-Type` (one of the four known types, JSON, or
//! none; bit 7 adds a `; charset` parameter); the rest is the body. Besides "no panic":
//! a rewrite keeps the document's fields (it only changes media types, and the digests and
//! sizes of converted children), is an OCI type, needs no second rewrite, and parses with
//! its new type to the same blobs (and the children's new digests) whenever the original
//! parsed with its own. `archive::recompress` (`push --compress`) rewrites the same bodies:
//! no panic, a manifest that parsed still parses, with the same config and as many
//! layers, and with nothing to replace a manifest or index keeps its bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tug_core::archive::recompress::{index_with_children, with_compressed_layers, CompressedLayer};
use tug_core::archive::{Compression, ManifestBytes};
use tug_core::manifest::{
    docker_to_oci, is_index, media_type_of, parse, Descriptor, Parsed, DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST,
};
use tug_core::Digest;

const TYPES: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

fn blobs(p: &Parsed) -> Vec<(Digest, u64)> {
    let d = |d: &Descriptor| (d.digest.clone(), d.size);
    match p {
        Parsed::Image { config, layers } => std::iter::once(config).chain(layers).map(d).collect(),
        Parsed::Index { manifests } => manifests.iter().map(d).collect(),
    }
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let base = match pick & 0x7f {
        n if (n as usize) < TYPES.len() => Some(TYPES[n as usize]),
        4 => Some("application/json"),
        _ => None,
    };
    let content_type = base.map(|t| {
        if pick & 0x80 != 0 {
            format!("{t}; charset=utf-8")
        } else {
            t.to_owned()
        }
    });

    let chosen = media_type_of(content_type.as_deref(), body);
    let _ = media_type_of(None, body);
    if let Some(t) = &chosen {
        let _ = is_index(t);
        let _ = parse(t, body).map_err(|e| e.len());
    }
    let parsed: Vec<Result<Parsed, String>> = TYPES.iter().map(|t| parse(t, body)).collect();
    if let Ok(p) = &parsed[0] {
        assert!(
            matches!(p, Parsed::Image { .. }),
            "property: parse with a manifest type gave an index"
        );
    }

    // Every layer replaced by a made-up compressed blob, gzip and zstd by turns.
    for (i, t) in TYPES.iter().enumerate() {
        let m = ManifestBytes {
            bytes: body.to_vec(),
            media_type: (*t).to_owned(),
            digest: Digest::sha256_of(body),
        };
        let layers: Vec<CompressedLayer> = match &parsed[i] {
            Ok(Parsed::Image { layers, .. }) => layers
                .iter()
                .enumerate()
                .map(|(n, l)| CompressedLayer {
                    uncompressed: l.digest.clone(),
                    compression: if n % 2 == 0 {
                        Compression::Gzip
                    } else {
                        Compression::Zstd
                    },
                    digest: Digest::sha256_of(l.digest.to_string().as_bytes()),
                    size: l.size / 2,
                })
                .collect(),
            _ => Vec::new(),
        };
        if let (
            Ok(new),
            Ok(Parsed::Image {
                config,
                layers: old,
            }),
        ) = (with_compressed_layers(&m, &layers), &parsed[i])
        {
            match parse(&new.media_type, &new.bytes) {
                Ok(Parsed::Image {
                    config: c,
                    layers: l,
                }) => {
                    assert_eq!(
                        c.digest, config.digest,
                        "property: recompress changed the config"
                    );
                    assert_eq!(
                        l.len(),
                        old.len(),
                        "property: recompress changed the layer count"
                    );
                }
                other => panic!("property: a parsed manifest's recompressed form gave {other:?}"),
            }
        }
        // Nothing to replace: the very same bytes (or an error for what is not JSON).
        if let Ok(same) = with_compressed_layers(&m, &[]) {
            assert_eq!(
                same, m,
                "property: recompress with nothing to do changed the manifest"
            );
        }
        if let Ok(same) = index_with_children(&m, &[]) {
            assert_eq!(same, m, "property: an index with no new child changed");
        }
        let children: Vec<(Digest, ManifestBytes)> = match &parsed[i] {
            Ok(Parsed::Index { manifests }) => manifests
                .iter()
                .map(|d| (d.digest.clone(), m.clone()))
                .collect(),
            _ => Vec::new(),
        };
        let _ = index_with_children(&m, &children);
    }

    // Children as a pull that converted them would name them: new digest, new size.
    let children: Vec<(Digest, Digest, u64)> = match &parsed[3] {
        Ok(Parsed::Index { manifests }) => manifests
            .iter()
            .map(|m| {
                let new = Digest::sha256_of(m.digest.to_string().as_bytes());
                (m.digest.clone(), new, m.size.wrapping_add(1))
            })
            .collect(),
        _ => Vec::new(),
    };
    let Ok(Some(out)) = docker_to_oci(body, &children) else {
        return;
    };
    let before: serde_json::Value =
        serde_json::from_slice(body).expect("property: docker_to_oci rewrote invalid JSON");
    let after: serde_json::Value =
        serde_json::from_slice(&out).expect("property: docker_to_oci wrote invalid JSON");
    assert_eq!(
        keys(&before),
        keys(&after),
        "property: docker_to_oci changed the document's fields"
    );
    let new_type = after["mediaType"].as_str().unwrap_or("");
    assert!(
        new_type == OCI_MANIFEST || new_type == OCI_INDEX || !TYPES.contains(&new_type),
        "property: docker_to_oci wrote a Docker media type {new_type:?}"
    );
    assert_eq!(
        docker_to_oci(&out, &children).ok(),
        Some(None),
        "property: the rewrite of a rewrite is not a no-op"
    );
    let old_type = before["mediaType"].as_str().unwrap_or("");
    let i = TYPES.iter().position(|t| *t == old_type);
    let j = TYPES.iter().position(|t| *t == new_type);
    if let (Some(i), Some(j)) = (i, j) {
        if let Ok(old) = &parsed[i] {
            let new = parse(new_type, &out).unwrap_or_else(|e| {
                panic!("property: {old_type} parsed, its rewrite as {new_type} does not: {e}")
            });
            let expected: Vec<(Digest, u64)> = blobs(old)
                .into_iter()
                .map(|(d, size)| {
                    match children
                        .iter()
                        .find(|(o, _, _)| is_index(old_type) && *o == d)
                    {
                        Some((_, new, size)) => (new.clone(), *size),
                        None => (d, size),
                    }
                })
                .collect();
            assert_eq!(
                blobs(&new),
                expected,
                "property: the rewrite names other blobs"
            );
            assert_eq!(is_index(old_type), is_index(TYPES[j]));
        }
    }
});
