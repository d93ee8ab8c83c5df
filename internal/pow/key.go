package pow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// KeyRedisKey holds the generated master key, in hex, when none is
// configured. One key, no hash tag needed: it works on a Cluster as is.
const KeyRedisKey = "wr:pow:key"

// SharedKey returns the master key every instance signs challenges with:
// configured (WAITROOM_POW_KEY: hex, or else standard or URL base64, at least
// MinKeyBytes) when set, else the one in Redis under KeyRedisKey. The first
// instance to start stores a fresh random key with SET NX, and every instance
// then reads whichever key won, so instances starting at once agree. It has
// no expiry; deleting it (or configuring another) rotates the key, which makes
// every open challenge fail once.
func SharedKey(ctx context.Context, rdb redis.UniversalClient, configured string) ([]byte, error) {
	if configured != "" {
		key, err := parseKey(configured)
		if err != nil {
			return nil, fmt.Errorf("pow: configured key: %w", err)
		}
		return key, nil
	}
	fresh := make([]byte, MinKeyBytes)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("pow: generate key: %w", err)
	}
	if err := rdb.SetNX(ctx, KeyRedisKey, hex.EncodeToString(fresh), 0).Err(); err != nil {
		return nil, fmt.Errorf("pow: store key in redis: %w", err)
	}
	stored, err := rdb.Get(ctx, KeyRedisKey).Result()
	if err != nil {
		return nil, fmt.Errorf("pow: read key from redis: %w", err)
	}
	key, err := hex.DecodeString(stored)
	if err != nil || len(key) < MinKeyBytes {
		return nil, fmt.Errorf("pow: redis key %s is not %d or more bytes in hex: delete it to generate a new one", KeyRedisKey, MinKeyBytes)
	}
	return key, nil
}

// parseKey reads hex when s is only hex digits, else base64.
func parseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	var key []byte
	var err error
	if strings.Trim(strings.ToLower(s), "0123456789abcdef") == "" {
		key, err = hex.DecodeString(s)
	} else {
		key, err = decodeBase64(s)
	}
	if err != nil {
		return nil, errors.New("neither hex nor base64")
	}
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("%d bytes, needs at least %d", len(key), MinKeyBytes)
	}
	return key, nil
}
