// The plugin's config: the stage's `config` table, given as a JSON object.
#ifndef KV_CONFIG_H
#define KV_CONFIG_H

#include <stddef.h>

typedef struct {
    char separator;  // one ASCII character between key and value
    char *prefix;    // put before every field name ("" for none), malloc'd
    size_t prefix_len;
} kv_config;

// A refused config: `key` names the offending key (NULL for the whole table).
// Both strings are malloc'd.
typedef struct {
    char *key;
    char *message;
} kv_config_error;

// Parses and validates `json` (`len` bytes). Returns 0 and fills `config`,
// or -1 and fills `error`.
int kv_config_parse(const char *json, size_t len, kv_config *config, kv_config_error *error);

#endif
