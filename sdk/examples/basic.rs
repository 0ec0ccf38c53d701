//! Encrypt and decrypt with a raw AES key: bytes in one call, then a stream.
//!
//! Run: `cargo run -p s3seal --example basic`

use std::io::{Read, Write};
use std::sync::Arc;

use s3seal::keyring::RawAesKeyring;
use s3seal::stream::{DecryptingReader, EncryptingWriter};
use s3seal::{Client, EncryptOptions, EncryptionContext};

fn main() -> Result<(), s3seal::Error> {
    // A 256-bit wrapping key. In real use, load it from a file or use KMS.
    let key = s3seal::hazmat::random::array::<32>()?;
    let keyring = Arc::new(RawAesKeyring::new("example", "demo-key", &key)?);
    let client = Client::new(keyring);

    // The encryption context is authenticated and stored in the message.
    let opts = EncryptOptions::default().with_context_pair("purpose", "example");
    let message = client.encrypt_blocking(b"attack at dawn", &opts)?;
    println!("message: {} bytes, suite {:#06x}", message.len(), message[1] as u16 * 256 + message[2] as u16);

    // Decrypt, requiring the context we expect.
    let mut expected = EncryptionContext::new();
    expected.insert("purpose".into(), "example".into());
    let out = client.decrypt_blocking(&message, &expected)?;
    assert_eq!(out.plaintext, b"attack at dawn");
    println!("decrypted: {}", String::from_utf8_lossy(&out.plaintext));

    // Streaming: constant memory whatever the size.
    let mut writer = EncryptingWriter::new(&client, Vec::new(), &opts)?;
    for i in 0..1000 {
        writeln!(writer, "line {i}")?;
    }
    let streamed = writer.finish()?;
    let mut reader = DecryptingReader::new(&client, &streamed[..], &expected)?;
    let mut text = String::new();
    reader.read_to_string(&mut text)?;
    println!("streamed {} plaintext bytes in a {}-byte message", text.len(), streamed.len());
    Ok(())
}
