use std::fs;
use std::io::Write;
use std::path::Path;

use tug_core::archive::docker_save_export::{SaveContent, SaveEntry};
use tug_core::archive::layer_tar::{LayerName, INFLATION_ALLOWANCE, MAX_INFLATION_RATIO};
use tug_core::Digest;

use super::{SaveError, SaveStream};

const IMAGE: &str = "127.0.0.1:5000/app:v1";

fn tar_bytes(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + seed) % 251) as u8).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn zstd_frame(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// A skippable frame (magic `0x184D2A5x`), as `zstd:chunked` puts its table of contents.
fn skippable(payload: &[u8]) -> Vec<u8> {
    let mut out = 0x184D_2A50u32.to_le_bytes().to_vec();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn layer_entry(blob: &[u8], diff_id: &Digest) -> SaveEntry {
    SaveEntry {
        name: format!("{}.tar", diff_id.hex()),
        content: SaveContent::Layer {
            layer: LayerName {
                digest: Digest::sha256_of(blob),
                image: Some(IMAGE.into()),
            },
            diff_id: diff_id.clone(),
        },
    }
}

/// The entries of a tar file: name and data.
fn entries_of(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at] != 0 {
        let h = &tar[at..at + 512];
        let name = String::from_utf8_lossy(&h[..100])
            .trim_end_matches('\0')
            .to_owned();
        let size = usize::from_str_radix(
            std::str::from_utf8(&h[124..135])
                .unwrap()
                .trim_end_matches('\0'),
            8,
        )
        .unwrap();
        out.push((name, tar[at + 512..at + 512 + size].to_vec()));
        at += 512 + size.div_ceil(512) * 512;
    }
    out
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// The entries of a tar written, or why not; and the temporary files left.
type Saved = (Result<Vec<(String, Vec<u8>)>, SaveError>, Vec<String>);

/// Writes the layers `blobs` (with the diffIDs `diff_ids`) through the stream, from files one
/// after the other as `tug save` does; the tar's layer entries, or the error.
fn save(blobs: &[&[u8]], diff_ids: &[Digest]) -> Saved {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.tar");
    let entries: Vec<SaveEntry> = blobs
        .iter()
        .zip(diff_ids)
        .map(|(b, d)| layer_entry(b, d))
        .collect();
    let result = (|| {
        let mut stream = SaveStream::create(&out, Some(IMAGE.into()))?;
        stream.expect(&entries);
        for (i, blob) in blobs.iter().enumerate() {
            let path = dir.path().join(format!("blob{i}"));
            fs::write(&path, blob).unwrap();
            let digest = Digest::sha256_of(blob);
            stream.start_file(&digest, fs::File::open(&path).unwrap())?;
            stream.wait(&digest)?;
            fs::remove_file(&path).unwrap();
        }
        let counters = stream.finish(&entries)?;
        assert_eq!(
            counters.in_side_files, 0,
            "one after the other: all in place"
        );
        Ok(entries_of(&fs::read(&out).unwrap()))
    })();
    if result.is_err() {
        assert!(!out.exists(), "no partial output");
    }
    (result, leftovers(dir.path()))
}

#[test]
fn every_zstd_frame_is_decoded_and_skippable_frames_are_passed_over() {
    let plain = tar_bytes(300_000, 1);
    let mut blob = Vec::new();
    for part in plain.chunks(1000) {
        blob.extend(zstd_frame(part));
    }
    blob.extend(skippable(b"table of contents"));
    blob.extend(zstd_frame(b""));
    blob.extend(skippable(b"footer"));
    let diff_id = Digest::sha256_of(&plain);
    let (tar, left) = save(&[&blob], std::slice::from_ref(&diff_id));
    assert_eq!(tar.unwrap(), [(format!("{}.tar", diff_id.hex()), plain)]);
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn every_gzip_member_is_decoded_and_plain_tars_are_copied_whatever_their_label() {
    let plain = tar_bytes(100_000, 2);
    let mut blob = Vec::new();
    for part in plain.chunks(30_000) {
        blob.extend(gzip(part));
    }
    let other = tar_bytes(5000, 3);
    let diff_ids = [Digest::sha256_of(&plain), Digest::sha256_of(&other)];
    let (tar, left) = save(&[&blob, &other], &diff_ids);
    let tar = tar.unwrap();
    assert_eq!(tar[0].1, plain);
    assert_eq!(tar[1].1, other);
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn errors_name_the_layer_its_image_and_the_decoder_and_leave_nothing() {
    let plain = tar_bytes(50_000, 4);
    let mut cut = zstd_frame(&plain);
    cut.truncate(cut.len() / 2);
    let layer = Digest::sha256_of(&cut);
    let (result, left) = save(&[&cut], &[Digest::sha256_of(&plain)]);
    let err = result.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "layer {layer} of {IMAGE}: does not decompress as zstd"
        )),
        "{err}"
    );
    assert!(left.is_empty(), "{left:?}");

    let other = Digest::sha256_of(b"other");
    let (result, left) = save(&[&plain], std::slice::from_ref(&other));
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains(&Digest::sha256_of(&plain).to_string()) && err.contains(&other.to_string()),
        "{err}"
    );
    assert!(left.is_empty(), "{left:?}");

    let (result, _) = save(&[b"BZh91AY&SY"], std::slice::from_ref(&other));
    let err = result.unwrap_err().to_string();
    assert!(err.contains("bzip2"), "{err}");
}

/// A zstd frame of `len` zeros in RLE blocks of 128 KiB: 4 bytes a block.
fn zstd_zeros(len: u64) -> Vec<u8> {
    const BLOCK: u64 = 128 << 10;
    // Magic, a header with a 128 KiB window (no content size), then the blocks.
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3];
    let mut left = len;
    while left > 0 {
        let n = left.min(BLOCK);
        left -= n;
        let header = (u32::from(left == 0)) | (1 << 1) | ((n as u32) << 3);
        frame.extend_from_slice(&header.to_le_bytes()[..3]);
        frame.push(0);
    }
    frame
}

#[test]
fn a_zstd_bomb_stops_at_the_cap_and_leaves_nothing() {
    let blob = zstd_zeros(4 << 30);
    let limit = blob.len() as u64 * MAX_INFLATION_RATIO + INFLATION_ALLOWANCE;
    assert!(
        (4u64 << 30) > 2 * limit,
        "the bomb must pass the cap: {limit}"
    );
    let (result, left) = save(&[&blob], &[Digest::sha256_of(b"whatever")]);
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains(&Digest::sha256_of(&blob).to_string())
            && err.contains(&format!("more than {limit} bytes"))
            && err.contains("decompression bomb"),
        "{err}"
    );
    assert!(left.is_empty(), "{left:?}");
}

/// A gzip bomb: as much as deflate can inflate (~1030×), under the cap, so the diffID
/// check at its end stops it; nothing is left either way.
#[test]
fn a_gzip_bomb_is_caught_by_its_diff_id_and_leaves_nothing() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 4 << 20]).unwrap();
    let member = gz.finish().unwrap();
    let blob: Vec<u8> = std::iter::repeat_n(member.as_slice(), 16)
        .flatten()
        .copied()
        .collect();
    let (result, left) = save(&[&blob], &[Digest::sha256_of(b"whatever")]);
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains(&Digest::sha256_of(&blob).to_string()) && err.contains("config says"),
        "{err}"
    );
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn layers_decoded_at_once_stream_in_place_or_through_side_files_and_all_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.tar");
    let tars: Vec<Vec<u8>> = (0..3).map(|i| tar_bytes(200_000 + i * 1000, i)).collect();
    let blobs: Vec<Vec<u8>> = tars.iter().map(|t| gzip(t)).collect();
    let mut entries: Vec<SaveEntry> = blobs
        .iter()
        .zip(&tars)
        .map(|(b, t)| layer_entry(b, &Digest::sha256_of(t)))
        .collect();
    entries.push(SaveEntry {
        name: "manifest.json".into(),
        content: SaveContent::Bytes(b"[]".to_vec()),
    });
    let mut stream = SaveStream::create(&out, None).unwrap();
    stream.expect(&entries);
    let digests: Vec<Digest> = blobs.iter().map(|b| Digest::sha256_of(b)).collect();
    for (d, b) in digests.iter().zip(&blobs) {
        stream.start(d, b.len() as u64);
    }
    // Interleaved, as downloads arrive.
    for at in (0..blobs.iter().map(Vec::len).max().unwrap()).step_by(4096) {
        for (d, b) in digests.iter().zip(&blobs) {
            if at < b.len() {
                stream
                    .feed(d, b[at..(at + 4096).min(b.len())].to_vec())
                    .unwrap();
            }
        }
    }
    for d in &digests {
        stream.close(d);
    }
    let counters = stream.finish(&entries).unwrap();
    let total: u64 = tars.iter().map(|t| t.len() as u64).sum();
    assert_eq!(counters.in_place + counters.in_side_files, total);
    assert!(counters.in_place > 0, "one layer streams in place");
    let written = entries_of(&fs::read(&out).unwrap());
    for (entry, tar) in entries.iter().zip(&tars) {
        let found = written.iter().find(|(n, _)| n == &entry.name).unwrap();
        assert_eq!(&found.1, tar, "{}", entry.name);
    }
    assert!(written
        .iter()
        .any(|(n, d)| n == "manifest.json" && d == b"[]"));
    assert_eq!(written.len(), 4);
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn an_abandoned_layer_frees_the_tail_and_its_bytes_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.tar");
    let tar = tar_bytes(100_000, 9);
    let blob = gzip(&tar);
    let entries = vec![layer_entry(&blob, &Digest::sha256_of(&tar))];
    let d = Digest::sha256_of(&blob);
    let mut stream = SaveStream::create(&out, None).unwrap();
    stream.expect(&entries);
    stream.start(&d, blob.len() as u64);
    stream.feed(&d, blob[..blob.len() / 2].to_vec()).unwrap();
    // The download starts over (the server ignored the range).
    stream.abandon(&d);
    stream.start(&d, blob.len() as u64);
    stream.feed(&d, blob.clone()).unwrap();
    stream.close(&d);
    let counters = stream.finish(&entries).unwrap();
    assert_eq!(counters.in_place, tar.len() as u64);
    let bytes = fs::read(&out).unwrap();
    assert_eq!(entries_of(&bytes), [(entries[0].name.clone(), tar.clone())]);
    let expected_len = 512 + tar.len().div_ceil(512) * 512 + 1024;
    assert_eq!(bytes.len(), expected_len);
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn files_a_killed_run_left_are_removed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.tar");
    // Unlocked: no process holds them.
    fs::write(dir.path().join(".tug-tar-1-0"), b"half a tar").unwrap();
    fs::write(dir.path().join(".tug-tarlayer-1-1"), b"half a layer").unwrap();
    let stream = SaveStream::create(&out, None).unwrap();
    // A running stream's own files are locked: another run leaves them.
    let other = SaveStream::create(&dir.path().join("other.tar"), None).unwrap();
    assert_eq!(
        leftovers(dir.path()).len(),
        2,
        "{:?}",
        leftovers(dir.path())
    );
    drop(other);
    drop(stream);
    assert!(leftovers(dir.path()).is_empty());
}
