//! Reading an env file: only a regular file, only up to [`MAX_FILE_BYTES`], and only UTF-8 text.
//!
//! A FIFO would block the reader forever and a device such as `/dev/zero` never ends, so the file's type is
//! checked before it is opened (through symlinks: a symlink to a regular file is fine), again on the open file,
//! and the read itself stops one byte past the limit whatever the metadata said.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::Diagnostic;
use super::limits::MAX_FILE_BYTES;
use super::locate::Pos;

/// Why an env file's bytes could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{} does not exist", path.display())]
    NotFound { path: PathBuf },
    #[error("{} is a symlink to {}, which does not exist", path.display(), target.display())]
    BrokenLink { path: PathBuf, target: PathBuf },
    #[error("{} is {kind}, not a regular file; env files are plain text files", path.display())]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error("{} is larger than the limit of 1 MiB ({size}); env files are a few KB", path.display())]
    TooLarge { path: PathBuf, size: String },
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The bytes of the env file at `path`.
pub fn read_env_file(path: &Path) -> Result<Vec<u8>, ReadError> {
    let io = |source: std::io::Error| ReadError::Io { path: path.to_path_buf(), source };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(match std::fs::read_link(path) {
                Ok(target) => ReadError::BrokenLink { path: path.to_path_buf(), target },
                Err(_) => ReadError::NotFound { path: path.to_path_buf() },
            });
        }
        Err(e) => return Err(io(e)),
    };
    check_metadata(path, &metadata)?;
    let file = std::fs::File::open(path).map_err(io)?;
    // The path may have been replaced between the two calls: the open file is what is read.
    check_metadata(path, &file.metadata().map_err(io)?)?;
    let mut bytes = Vec::with_capacity(metadata.len().min(MAX_FILE_BYTES) as usize + 1);
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge { path: path.to_path_buf(), size: "it goes on past the limit".into() });
    }
    Ok(bytes)
}

fn check_metadata(path: &Path, metadata: &std::fs::Metadata) -> Result<(), ReadError> {
    if !metadata.is_file() {
        return Err(ReadError::NotAFile { path: path.to_path_buf(), kind: kind_of(&metadata.file_type()) });
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge { path: path.to_path_buf(), size: format!("{} bytes", metadata.len()) });
    }
    Ok(())
}

fn kind_of(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() { "a directory" } else { "not a regular file" }
}

/// The text of an env file's bytes: UTF-8, with or without a byte order mark. Anything else is located: the
/// first invalid byte by offset, line and column, a UTF-16 file by what it looks like.
pub fn decode<'a>(bytes: &'a [u8], file: &Path) -> Result<&'a str, Diagnostic> {
    let start = Pos { line: 1, col: 1 };
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) || looks_like_utf16(bytes) {
        let why = if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
            "it starts with a UTF-16 byte order mark"
        } else {
            "every other byte is a NUL byte"
        };
        return Err(Diagnostic::new(
            file,
            start,
            "",
            format!("the file looks like UTF-16 ({why}); env files are UTF-8 text"),
            Some("save it as UTF-8 (in most editors: \"Save with encoding\" → UTF-8)".into()),
        ));
    }
    let bom = if bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let bytes = &bytes[bom..];
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            // The part before is valid UTF-8, so lines and columns count characters as everywhere else.
            let pos = end_of(std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default());
            return Err(Diagnostic::new(
                file,
                pos,
                "",
                format!(
                    "the file is not valid UTF-8: byte 0x{:02X} at offset {} (line {}, column {}) does not start \
                     or continue a UTF-8 character",
                    bytes[e.valid_up_to()],
                    bom + e.valid_up_to(),
                    pos.line,
                    pos.col
                ),
                Some(
                    "save the file as UTF-8; it may be in another encoding such as Latin-1 or Windows-1252, or \
                     not be a text file"
                        .into(),
                ),
            ));
        }
    };
    if let Some(at) = text.find('\0') {
        return Err(Diagnostic::new(
            file,
            end_of(&text[..at]),
            "",
            format!("the file contains a NUL byte at offset {}; env files are text", bom + at),
            Some("remove it, or check that this is the file you meant".into()),
        ));
    }
    Ok(text)
}

/// A file whose first bytes have a NUL at every even or every odd offset: UTF-16 without a byte order mark.
fn looks_like_utf16(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(64) & !1];
    head.len() >= 4 && {
        let at = |parity: usize| head.iter().skip(parity).step_by(2).all(|b| *b == 0);
        let other = |parity: usize| head.iter().skip(1 - parity).step_by(2).any(|b| *b != 0);
        (at(0) && other(0)) || (at(1) && other(1))
    }
}

/// The position just after `text`.
fn end_of(text: &str) -> Pos {
    let line_start = text.rfind('\n').map_or(0, |i| i + 1);
    Pos { line: text.matches('\n').count() + 1, col: text[line_start..].chars().count() + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &[u8]) -> Result<&str, String> {
        decode(bytes, Path::new("stacks/x.yaml")).map_err(|d| d.to_string())
    }

    #[test]
    fn utf8_with_or_without_bom() {
        assert_eq!(decoded(b"project: demo\n"), Ok("project: demo\n"));
        assert_eq!(decoded(b"\xEF\xBB\xBFproject: demo\n"), Ok("project: demo\n"));
    }

    #[test]
    fn invalid_utf8_is_located() {
        let e = decoded(b"project: demo\nregion: us-w\xE9st-1\n").unwrap_err();
        assert!(
            e.starts_with(
                "stacks/x.yaml:2:13: the file is not valid UTF-8: byte 0xE9 at offset 26 (line 2, column 13)"
            ),
            "{e}"
        );
        assert!(e.contains("Latin-1"), "{e}");
    }

    #[test]
    fn utf16_is_recognised() {
        let utf16le: Vec<u8> = "project: demo\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let e = decoded(&utf16le).unwrap_err();
        assert!(e.contains("looks like UTF-16 (every other byte is a NUL byte)"), "{e}");
        assert!(e.contains("save it as UTF-8"), "{e}");
        let with_bom: Vec<u8> =
            [0xFE, 0xFF].into_iter().chain("p: d".encode_utf16().flat_map(u16::to_be_bytes)).collect();
        assert!(decoded(&with_bom).unwrap_err().contains("UTF-16 byte order mark"));
    }

    #[test]
    fn nul_bytes_are_refused() {
        let e = decoded(b"project: demo\nregion:\0 x\n").unwrap_err();
        assert!(e.starts_with("stacks/x.yaml:2:8: the file contains a NUL byte at offset 21"), "{e}");
    }
}
