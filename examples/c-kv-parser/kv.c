#include "kv.h"

#include <stdbool.h>
#include <string.h>

static bool is_space(uint8_t ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

size_t kv_scan(const uint8_t *text, size_t len, char separator, kv_pair *pairs, size_t max) {
    size_t found = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_space(text[i])) i++;
        size_t start = i;
        while (i < len && !is_space(text[i])) i++;
        if (i == start) break;
        const uint8_t *sep = memchr(text + start, separator, i - start);
        if (sep == NULL || sep == text + start) continue;  // not a pair, or no key
        size_t key_len = (size_t)(sep - text) - start;
        size_t value_at = (size_t)(sep - text) + 1, value_end = i;
        while (value_at < value_end && text[value_at] == '"') value_at++;
        while (value_end > value_at && text[value_end - 1] == '"') value_end--;
        kv_pair pair = {(uint32_t)start, (uint32_t)key_len, (uint32_t)value_at,
                        (uint32_t)(value_end - value_at)};
        // A repeated key: the last value wins, in the first one's place.
        size_t seen = 0;
        size_t known = found < max ? found : max;
        while (seen < known && !(pairs[seen].key_len == key_len &&
                                 memcmp(text + pairs[seen].key_at, text + start, key_len) == 0))
            seen++;
        if (seen < known) {
            pairs[seen] = pair;
            continue;
        }
        if (found < max) pairs[found] = pair;
        found++;
    }
    return found;
}
