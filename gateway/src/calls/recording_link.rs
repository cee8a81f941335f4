//! Links to recordings central can open: an Asterisk writes its recordings under a spool
//! directory on its own disk, and the record would carry only that path. With
//! `recording_url_base` (a web server central runs over that directory, or a share), the
//! record also carries `recording_url`: the base and the file's path below the directory.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// What a path segment may not hold as is in a URL.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingLinks {
    /// `https://rec.example.com/monitor` (no trailing slash needed).
    base: String,
    /// Where the PBX writes recordings: an absolute file below it is linked by the rest of
    /// its path; a relative file is taken as already relative to it.
    dir: String,
}

impl RecordingLinks {
    pub fn new(base: &str, dir: &str) -> RecordingLinks {
        RecordingLinks {
            base: base.trim_end_matches('/').to_owned(),
            dir: dir.trim_end_matches('/').to_owned(),
        }
    }

    /// The link of `file`; `None` for an empty name, a path outside the directory, one that
    /// climbs out of it (`..`), or a file that is already a URL (a Slican's `ftp://`).
    pub fn link(&self, file: &str) -> Option<String> {
        if file.is_empty() || file.contains("://") {
            return None;
        }
        let relative = match file.strip_prefix('/') {
            Some(_) => file.strip_prefix(&self.dir)?.strip_prefix('/')?,
            None => file,
        };
        let segments: Vec<&str> = relative.split('/').filter(|s| !s.is_empty()).collect();
        if segments.is_empty() || segments.contains(&"..") {
            return None;
        }
        let encoded: Vec<String> = segments
            .iter()
            .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
            .collect();
        Some(format!("{}/{}", self.base, encoded.join("/")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_below_the_directory_become_links_and_nothing_else_does() {
        let links = RecordingLinks::new(
            "https://rec.example.com/monitor/",
            "/var/spool/asterisk/monitor/",
        );
        let cases = [
            (
                "/var/spool/asterisk/monitor/2026/12/03/in-201-1.wav",
                Some("https://rec.example.com/monitor/2026/12/03/in-201-1.wav"),
            ),
            (
                "in-201-1.wav",
                Some("https://rec.example.com/monitor/in-201-1.wav"),
            ),
            (
                "q 1/Łódź #2?.wav",
                Some("https://rec.example.com/monitor/q%201/%C5%81%C3%B3d%C5%BA%20%232%3F.wav"),
            ),
            ("/tmp/x.wav", None),
            ("/var/spool/asterisk/monitorX/x.wav", None),
            ("../../etc/passwd", None),
            ("/var/spool/asterisk/monitor/../x.wav", None),
            ("ftp://10.0.0.5/rec/1.wav", None),
            ("", None),
            ("/var/spool/asterisk/monitor/", None),
        ];
        for (file, want) in cases {
            assert_eq!(links.link(file).as_deref(), want, "{file}");
        }
    }
}
