//! When a certificate expires: its `notAfter`, read from the DER without an X.509 library
//! (the walk is five elements deep), for the expiry metric the "certificate expiring" alert
//! watches.

/// `notAfter` of a DER certificate, as Unix seconds.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (certificate, _) = element(der, SEQUENCE)?;
    let (tbs, _) = element(certificate, SEQUENCE)?;
    let mut rest = tbs;
    // version [0] is optional; serialNumber, signature and issuer come before validity.
    if rest.first() == Some(&0xa0) {
        rest = element(rest, 0xa0)?.1;
    }
    rest = element(rest, INTEGER)?.1;
    rest = element(rest, SEQUENCE)?.1;
    rest = element(rest, SEQUENCE)?.1;
    let (validity, _) = element(rest, SEQUENCE)?;
    let after_not_before = skip_any(validity)?;
    match *after_not_before.first()? {
        UTC_TIME => parse_time(element(after_not_before, UTC_TIME)?.0, false),
        GENERALIZED_TIME => parse_time(element(after_not_before, GENERALIZED_TIME)?.0, true),
        _ => None,
    }
}

const INTEGER: u8 = 0x02;
const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The content of the element at the start of `data` if its tag is `tag`, and what follows.
fn element(data: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *data.first()? != tag {
        return None;
    }
    let (length, header) = length(&data[1..])?;
    let start = 1 + header;
    let end = start.checked_add(length)?;
    Some((data.get(start..end)?, data.get(end..)?))
}

fn skip_any(data: &[u8]) -> Option<&[u8]> {
    let (length, header) = length(data.get(1..)?)?;
    data.get(1 + header + length..)
}

/// A DER length and how many bytes encoded it.
fn length(data: &[u8]) -> Option<(usize, usize)> {
    let first = *data.first()?;
    if first < 0x80 {
        return Some((usize::from(first), 1));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 {
        return None;
    }
    let mut length = 0usize;
    for &byte in data.get(1..=count)? {
        length = (length << 8) | usize::from(byte);
    }
    Some((length, 1 + count))
}

/// `YYMMDDHHMMSSZ` (UTCTime, years 1950-2049) or `YYYYMMDDHHMMSSZ` (GeneralizedTime).
fn parse_time(text: &[u8], four_digit_year: bool) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, rest) = if four_digit_year {
        (number(0..4)?, 4)
    } else {
        let yy = number(0..2)?;
        (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
    };
    let month = number(rest..rest + 2)?;
    let day = number(rest + 2..rest + 4)?;
    let hour = number(rest + 4..rest + 6)?;
    let minute = number(rest + 6..rest + 8)?;
    let second = number(rest + 8..rest + 10)?;
    Some(days_from_civil(year, month, day)? * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_of_a_generated_certificate_is_read() {
        for (year, expected) in [(2031, 1_935_619_200), (2051, 2_566_771_200)] {
            let mut params = rcgen::CertificateParams::new(vec!["example.test".into()]).unwrap();
            params.not_after = rcgen::date_time_ymd(year, 5, 4);
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            // Midnight UTC of the day rcgen was given.
            assert_eq!(not_after(cert.der()), Some(expected), "{year}");
        }
        assert_eq!(not_after(b"not a certificate"), None);
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
    }
}
