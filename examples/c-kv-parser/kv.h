// Finding key=value pairs in a message: the plugin's logic, with no WIT in
// it, so it also builds and runs natively (`make -f native.mk test`).
#ifndef KV_KV_H
#define KV_KV_H

#include <stddef.h>
#include <stdint.h>

// One pair, as byte spans of the scanned text.
typedef struct {
    uint32_t key_at, key_len;
    uint32_t value_at, value_len;
} kv_pair;

// Scans `text` (`len` bytes of UTF-8) for words `key<separator>value`, words
// being separated by ASCII whitespace. A word whose key is empty is skipped;
// an empty value is kept; `"` is trimmed from both ends of a value. A key
// seen again keeps its first place and takes the last value. Writes at most
// `max` pairs and returns how many there are (call again with more room if
// that is more than `max`). Every span starts and ends on a character
// boundary, since the scan only cuts at ASCII bytes.
size_t kv_scan(const uint8_t *text, size_t len, char separator, kv_pair *pairs, size_t max);

#endif
