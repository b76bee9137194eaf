package proxy

import (
	"encoding/asn1"
	"strings"
	"unicode/utf8"
)

// The DN strings of nginx's $ssl_client_s_dn and $ssl_client_i_dn
// (ssl-client-subject-dn, ssl-client-issuer-dn, auth-tls-match-cn), which
// nginx takes from OpenSSL's X509_NAME_print_ex with XN_FLAG_RFC2253
// (crypto/asn1/a_strex.c). Go's pkix.Name.String differs from it: it
// regroups and reorders the attributes, prints emailAddress, DC, UID and
// most others as dotted OIDs, and escapes neither control characters nor
// bytes above 0x7f. So the name is read from the certificate's DER, as
// OpenSSL does:
//
//   - the attributes in the reverse of their DER order, the members of a
//     multi-valued RDN included, joined by "," and, within an RDN, by "+";
//   - each as OpenSSL's short name (CN, emailAddress, DC, UID, ...) "="
//     value; an attribute OpenSSL does not know as its dotted OID "=#" and
//     the upper-case hex of the value's DER;
//   - a value of a string type as UTF-8 (T61String as Latin-1, BMPString,
//     UniversalString converted; UTF8String as it is), every byte above
//     0x7f and every control character as \XX, each of ,+"\;<> and a
//     leading space or #, and a trailing space, after a backslash; a value
//     of any other type as "#" and its DER in hex.

// dnAttribute is one AttributeTypeAndValue of a Name, its value undecoded.
type dnAttribute struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// dnRDNSET is one RelativeDistinguishedName (a SET, hence the name's
// suffix, which encoding/asn1 reads as SET OF).
type dnRDNSET []dnAttribute

// opensslDN formats raw, the DER of an X.509 Name, as OpenSSL's
// X509_NAME_print_ex(XN_FLAG_RFC2253) does; "" for an empty name or one
// that does not parse.
func opensslDN(raw []byte) string {
	var rdns []dnRDNSET
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil || len(rest) != 0 {
		return ""
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		for j := len(rdns[i]) - 1; j >= 0; j-- {
			switch {
			case b.Len() == 0:
			case j == len(rdns[i])-1:
				b.WriteByte(',')
			default:
				b.WriteByte('+')
			}
			writeDNAttribute(&b, rdns[i][j])
		}
	}
	return b.String()
}

// writeDNAttribute writes a as name=value (see above).
func writeDNAttribute(b *strings.Builder, a dnAttribute) {
	name, known := dnShortNames[a.Type.String()]
	if !known {
		b.WriteString(a.Type.String())
		b.WriteByte('=')
		writeDNDump(b, a.Value.FullBytes)
		return
	}
	b.WriteString(name)
	b.WriteByte('=')
	var runes []rune
	v := a.Value
	if v.Class != asn1.ClassUniversal {
		writeDNDump(b, v.FullBytes)
		return
	}
	switch v.Tag {
	case asn1.TagUTF8String:
		// OpenSSL passes UTF-8 through byte by byte.
		writeDNValue(b, v.Bytes, nil)
		return
	case asn1.TagNumericString, asn1.TagPrintableString, asn1.TagT61String, asn1.TagIA5String,
		asn1.TagUTCTime, asn1.TagGeneralizedTime, 26: // 26: VisibleString
		for _, c := range v.Bytes {
			runes = append(runes, rune(c))
		}
	case 28: // UniversalString: UCS-4
		if len(v.Bytes)%4 != 0 {
			writeDNDump(b, v.FullBytes)
			return
		}
		for i := 0; i < len(v.Bytes); i += 4 {
			runes = append(runes, rune(v.Bytes[i])<<24|rune(v.Bytes[i+1])<<16|rune(v.Bytes[i+2])<<8|rune(v.Bytes[i+3]))
		}
	case asn1.TagBMPString:
		if len(v.Bytes)%2 != 0 {
			writeDNDump(b, v.FullBytes)
			return
		}
		for i := 0; i < len(v.Bytes); i += 2 {
			runes = append(runes, rune(v.Bytes[i])<<8|rune(v.Bytes[i+1]))
		}
	default:
		writeDNDump(b, v.FullBytes)
		return
	}
	writeDNValue(b, nil, runes)
}

// writeDNValue writes the characters of a value, bytes (one a character)
// or runes (each converted to UTF-8), escaped as OpenSSL's do_esc_char
// with ASN1_STRFLGS_RFC2253. As OpenSSL's do_buf, a value of one
// character is escaped only as a last one: a lone "#" is not.
func writeDNValue(b *strings.Builder, bytes []byte, runes []rune) {
	n := len(bytes) + len(runes)
	var buf [utf8.UTFMax]byte
	for i := 0; i < n; i++ {
		first, last := i == 0 && n > 1, i == n-1
		var enc []byte
		if bytes != nil {
			enc = bytes[i : i+1]
		} else {
			enc = buf[:utf8.EncodeRune(buf[:], runes[i])]
		}
		for _, c := range enc {
			writeDNByte(b, c, first, last)
		}
	}
}

// writeDNByte writes c of a value as OpenSSL's do_esc_char does; first and
// last tell whether it belongs to the value's first or last character.
func writeDNByte(b *strings.Builder, c byte, first, last bool) {
	const hex = "0123456789ABCDEF"
	switch {
	case c > 0x7f || c < 0x20 || c == 0x7f:
		b.WriteByte('\\')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	case strings.IndexByte(`,+"\;<>`, c) >= 0, c == ' ' && (first || last), c == '#' && first:
		b.WriteByte('\\')
		b.WriteByte(c)
	default:
		b.WriteByte(c)
	}
}

// writeDNDump writes der as OpenSSL's ASN1_STRFLGS_DUMP_DER: "#" and the
// upper-case hex of every byte.
func writeDNDump(b *strings.Builder, der []byte) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('#')
	for _, c := range der {
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

// dnShortNames are OpenSSL 3's short names (OBJ_nid2sn) of the attribute
// types a DN may hold, by dotted OID.
var dnShortNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C", "2.5.4.7": "L",
	"2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.12": "title",
	"2.5.4.13": "description", "2.5.4.14": "searchGuide", "2.5.4.15": "businessCategory",
	"2.5.4.16": "postalAddress", "2.5.4.17": "postalCode", "2.5.4.18": "postOfficeBox",
	"2.5.4.19": "physicalDeliveryOfficeName", "2.5.4.20": "telephoneNumber", "2.5.4.21": "telexNumber",
	"2.5.4.22": "teletexTerminalIdentifier", "2.5.4.23": "facsimileTelephoneNumber",
	"2.5.4.24": "x121Address", "2.5.4.25": "internationaliSDNNumber", "2.5.4.26": "registeredAddress",
	"2.5.4.27": "destinationIndicator", "2.5.4.28": "preferredDeliveryMethod",
	"2.5.4.29": "presentationAddress", "2.5.4.30": "supportedApplicationContext", "2.5.4.31": "member",
	"2.5.4.32": "owner", "2.5.4.33": "roleOccupant", "2.5.4.34": "seeAlso", "2.5.4.35": "userPassword",
	"2.5.4.36": "userCertificate", "2.5.4.37": "cACertificate", "2.5.4.38": "authorityRevocationList",
	"2.5.4.39": "certificateRevocationList", "2.5.4.40": "crossCertificatePair", "2.5.4.41": "name",
	"2.5.4.42": "GN", "2.5.4.43": "initials", "2.5.4.44": "generationQualifier",
	"2.5.4.45": "x500UniqueIdentifier", "2.5.4.46": "dnQualifier", "2.5.4.47": "enhancedSearchGuide",
	"2.5.4.48": "protocolInformation", "2.5.4.49": "distinguishedName", "2.5.4.50": "uniqueMember",
	"2.5.4.51": "houseIdentifier", "2.5.4.52": "supportedAlgorithms", "2.5.4.53": "deltaRevocationList",
	"2.5.4.54": "dmdName", "2.5.4.65": "pseudonym", "2.5.4.72": "role", "2.5.4.97": "organizationIdentifier",
	"2.5.4.98": "c3", "2.5.4.99": "n3", "2.5.4.100": "dnsName",
	"1.2.840.113549.1.9.1": "emailAddress", "1.2.840.113549.1.9.2": "unstructuredName",
	"1.2.840.113549.1.9.7": "challengePassword", "1.2.840.113549.1.9.8": "unstructuredAddress",
	"0.9.2342.19200300.100.1.1": "UID", "0.9.2342.19200300.100.1.3": "mail",
	"0.9.2342.19200300.100.1.25": "DC",
	"1.3.6.1.4.1.311.60.2.1.1":   "jurisdictionL", "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
	"1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
}
