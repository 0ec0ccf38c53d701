//! The at-rest check: every object read straight from the upstream is
//! ciphertext of the format's length, with no 16-byte window of any test
//! file in it.

use anyhow::{Context, Result, anyhow, bail, ensure};

use super::constants::FRAME;
use super::data::TestFile;

/// Where some 16-byte window of a test file's plaintext appears in
/// `stored`: `(file name, offset in stored)`. Exact: every 16-byte window
/// of a file contains one whole aligned word, so each offset whose word
/// carries a file's magic is checked against the file's bytes around it.
pub fn find_plaintext(stored: &[u8], files: &[TestFile]) -> Option<(String, usize)> {
    let candidates: Vec<&TestFile> = files.iter().filter(|f| f.data.len() >= 16).collect();
    let magics: Vec<[u8; 4]> = candidates.iter().map(|f| f.magic.to_be_bytes()).collect();
    if stored.len() < 8 || candidates.is_empty() {
        return None;
    }
    for o in 0..=stored.len() - 8 {
        let high = &stored[o..o + 4];
        let Some(i) = magics.iter().position(|m| m == high) else { continue };
        let file = candidates[i];
        let index = u32::from_be_bytes([stored[o + 4], stored[o + 5], stored[o + 6], stored[o + 7]]);
        let p = index as usize * 8;
        // The aligned word at plaintext offset p sits at stored offset o;
        // a window [p - a, p - a + 16) holds it for a in 0..=8.
        for a in 0..=8usize {
            let (Some(ps), Some(ss)) = (p.checked_sub(a), o.checked_sub(a)) else { continue };
            if ps + 16 <= file.data.len() && ss + 16 <= stored.len() && stored[ss..ss + 16] == file.data[ps..ps + 16] {
                return Some((file.name.clone(), ss));
            }
        }
    }
    None
}

/// Reads every object of `bucket` straight from the upstream (`direct`
/// signs with the upstream's own credentials, not through the proxy) and
/// checks that each is ciphertext: its size is the format's
/// `ciphertext_len` of the test file its key ends with, and no 16-byte
/// window of any test file appears in it. s3seal's own objects (under
/// `.s3seal/`: final records of multipart uploads, envelope sidecars) are
/// checked for plaintext and final records for their size, and not
/// counted. Returns the number of data objects.
pub async fn assert_ciphertext_at_rest(direct: &aws_sdk_s3::Client, bucket: &str, files: &[TestFile]) -> Result<usize> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = direct
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token.take())
            .send()
            .await
            .with_context(|| format!("listing {bucket} on the upstream"))?;
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    let mut data_objects = 0;
    for key in &keys {
        let stored = direct
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("reading {bucket}/{key} from the upstream"))?
            .body
            .collect()
            .await
            .with_context(|| format!("reading {bucket}/{key} from the upstream"))?
            .into_bytes();
        if let Some((which, at)) = find_plaintext(&stored, files) {
            bail!("{bucket}/{key} on the upstream holds plaintext of {which} at offset {at}");
        }
        if key.starts_with(s3seal::s3::RESERVED_PREFIX) {
            if key.starts_with(s3seal::object::RECORD_PREFIX) {
                ensure!(stored.len() == s3seal::object::RECORD_LEN, "{bucket}/{key}: {} bytes", stored.len());
            }
            continue;
        }
        data_objects += 1;
        let name = key.rsplit('/').next().unwrap_or(key);
        let file = files
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| anyhow!("{bucket}/{key} on the upstream is not one of the test files"))?;
        let want = s3seal::object::ciphertext_len(file.data.len() as u64, FRAME);
        ensure!(
            stored.len() as u64 == want,
            "{bucket}/{key}: {} bytes stored, the format gives {want} for {} plaintext bytes",
            stored.len(),
            file.data.len()
        );
    }
    Ok(data_objects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::data::plaintext;

    #[test]
    fn finds_every_plaintext_window_and_nothing_else() {
        let files = vec![TestFile { name: "a".into(), data: plaintext(0x1234_5678, 1000), magic: 0x1234_5678 }];
        for start in [0usize, 1, 7, 8, 9, 500, 984] {
            let mut stored = vec![0xAAu8; 37];
            stored.extend_from_slice(&files[0].data[start..start + 16]);
            stored.extend_from_slice(&[0x55; 11]);
            assert_eq!(find_plaintext(&stored, &files), Some(("a".to_string(), 37)), "window at {start}");
            // 15 bytes are not a window.
            let short = [&[0xEEu8; 3][..], &files[0].data[start..start + 15], &[0xEE; 3]].concat();
            assert_eq!(find_plaintext(&short, &files), None, "15 bytes at {start}");
        }
        let other = plaintext(0x1234_5679, 1000);
        assert_eq!(find_plaintext(&other, &files), None);
    }
}
