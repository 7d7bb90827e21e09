"""email.receive's parse of tricky mail (the same function the SMTP server calls)."""

from __future__ import annotations

from gateways_email.parse import email_receive


def receive(raw: bytes) -> dict:
    return email_receive(raw, "bob@remote.test", ["alice@example.com"], ("127.0.0.1", 2525))


def test_folded_and_encoded_headers_are_decoded():
    message = receive(
        b"Subject: a long\r\n subject line\r\n"
        b"From: =?iso-8859-1?q?Andr=E9?= <andre@remote.test>\r\n"
        b"X-Utf8: d\xc3\xa9j\xc3\xa0 vu\r\n"  # raw UTF-8 (SMTPUTF8 clients)
        b"\r\nbody\r\n"
    )
    assert message["subject"] == "a long subject line"
    assert message["headers"]["from"] == "André <andre@remote.test>"
    assert message["headers"]["x-utf8"] == "déjà vu"


def test_rfc2231_filename_and_inline_disposition():
    message = receive(
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: image/png\r\n"
        b"Content-Disposition: inline; filename*=utf-8''%C3%A9t%C3%A9.png\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw==\r\n"
        b'--XX\r\nContent-Type: application/pdf; name="old-style.pdf"\r\n\r\n%PDF\r\n'
        b"--XX--\r\n"
    )
    image, pdf = message["content"]["parts"]
    assert image == {
        "content-type": "image/png",
        "body": b"\x89PNG",
        "filename": "été.png",
        "disposition": "inline",
    }
    assert pdf["filename"] == "old-style.pdf"  # from the Content-Type name parameter
    assert "disposition" not in pdf


def test_enclosed_message_is_kept_as_bytes():
    inner = b"Subject: inner\r\n\r\nforwarded\r\n"
    message = receive(
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
        b"Content-Type: message/rfc822\r\n\r\n" + inner + b"--B--\r\n"
    )
    (part,) = message["content"]["parts"]
    assert part["content-type"] == "message/rfc822"
    # The CRLF before the boundary belongs to the boundary (RFC 2046).
    assert part["body"].replace(b"\r\n", b"\n") == b"Subject: inner\n\nforwarded"


def test_broken_mail_still_arrives_with_what_can_be_read():
    message = receive(
        b'Subject: =?utf-8?b?broken\r\nContent-Type: text/plain; charset="\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n!!not base64!!\r\n"
    )
    assert message["subject"].startswith("=?utf-8?b?broken")
    assert message["content"]["content-type"] == "text/plain"
    assert isinstance(message["content"]["body"], bytes)
    assert message["raw"].startswith(b"Subject:")


def test_no_headers_at_all():
    message = receive(b"just a body\r\n")
    assert message["headers"] == {}
    assert message["subject"] == ""
    assert message["content"]["body"] == b"just a body\r\n"
    assert message["peer"] == ["127.0.0.1", 2525]
