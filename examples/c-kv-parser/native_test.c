// The logic natively, no Wasm: see README.md ("Test the logic natively").
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "kv.h"

static int span_is(const char *text, uint32_t at, uint32_t len, const char *want) {
    return strlen(want) == len && memcmp(text + at, want, len) == 0;
}

static void refused(const char *json, const char *key, const char *message_part) {
    kv_config config;
    kv_config_error error = {0};
    int r = kv_config_parse(json, strlen(json), &config, &error);
    if (r != -1 || (key == NULL) != (error.key == NULL) || (key && strcmp(key, error.key) != 0) ||
        strstr(error.message, message_part) == NULL) {
        fprintf(stderr, "config %s: got key %s, message %s\n", json,
                error.key ? error.key : "(none)", error.message ? error.message : "(accepted)");
        exit(1);
    }
}

int main(void) {
    const char *line = "authentication failure; logname= uid=0 euid=0 user=\"bob\" uid=1 =x";
    kv_pair pairs[16];
    size_t n = kv_scan((const uint8_t *)line, strlen(line), '=', pairs, 16);
    assert(n == 4);
    assert(span_is(line, pairs[0].key_at, pairs[0].key_len, "logname"));
    assert(span_is(line, pairs[0].value_at, pairs[0].value_len, ""));
    assert(span_is(line, pairs[1].key_at, pairs[1].key_len, "uid"));
    assert(span_is(line, pairs[1].value_at, pairs[1].value_len, "1"));  // last value wins
    assert(span_is(line, pairs[3].value_at, pairs[3].value_len, "bob"));
    assert(kv_scan((const uint8_t *)"check pass; user unknown", 24, '=', pairs, 16) == 0);

    kv_config config;
    kv_config_error error;
    const char *ok = "{\"separator\": \":\", \"prefix\": \"kv.\\u00e9\"}";
    assert(kv_config_parse(ok, strlen(ok), &config, &error) == 0);
    assert(config.separator == ':' && strcmp(config.prefix, "kv.\xc3\xa9") == 0);
    assert(kv_config_parse("{}", 2, &config, &error) == 0 && config.separator == '=');

    refused("{\"separator\": \"==\"}", "separator", "exactly one");
    refused("{\"prefix\": 3}", "prefix", "must be a string, not a number");
    refused("{\"sep\": \"=\"}", "sep", "unknown key `sep`");
    refused("[1]", NULL, "JSON object");
    refused("{\"prefix\": \"a\"", NULL, "not valid JSON");
    puts("native tests passed");
    return 0;
}
