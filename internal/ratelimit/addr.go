package ratelimit

import "net/netip"

// AddrKey is the key that every per-address limit uses for the client
// address ip: an IPv4 address as it is, an IPv4-mapped IPv6 address as its
// IPv4 address, and any other IPv6 address as its /64 prefix
// ("2001:db8:1:2::/64"). One subscriber, one office, one host usually gets a
// whole /64, so keying by the full address would give each of them 2^64
// buckets. Anything that does not parse as an IP address is its own key.
func AddrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}
