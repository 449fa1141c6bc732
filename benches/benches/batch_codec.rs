//! Encode and decode of journal batches (the segment format's hot path).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use memoir_journal::format::{decode_entries, encode_batch, BatchHeader, Compression};
use memoir_journal::Seq;

fn cases() -> Vec<(&'static str, Vec<Vec<u8>>, Compression)> {
    let plain = Compression {
        threshold_bytes: usize::MAX,
        zstd_level: 1,
    };
    let zstd = Compression {
        threshold_bytes: 0,
        zstd_level: 1,
    };
    let text: Vec<u8> = (0..256 * 1024).map(|i| b"memoir journal "[i % 15]).collect();
    vec![
        ("1x128B", vec![vec![7u8; 128]], plain),
        ("64x128B", (0..64).map(|i| vec![i as u8; 128]).collect(), plain),
        ("16x4KiB", (0..16).map(|i| vec![i as u8; 4096]).collect(), plain),
        ("1x256KiB-zstd", vec![text], zstd),
    ]
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch");
    for (name, entries, compression) in cases() {
        let bytes: usize = entries.iter().map(|e| e.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        let mut out = Vec::new();
        group.bench_with_input(BenchmarkId::new("encode", name), &entries, |b, entries| {
            b.iter(|| encode_batch(&mut out, Seq(1), entries.iter().map(|e| e.as_slice()), 0, compression))
        });
        let mut encoded = Vec::new();
        if encode_batch(
            &mut encoded,
            Seq(1),
            entries.iter().map(|e| e.as_slice()),
            0,
            compression,
        )
        .is_err()
        {
            continue;
        }
        group.bench_with_input(BenchmarkId::new("decode", name), &encoded, |b, encoded| {
            b.iter(|| {
                let header = BatchHeader::decode(encoded).ok()?;
                header.verify_payload(encoded, 0).ok()?;
                decode_entries(&header, encoded).ok()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
