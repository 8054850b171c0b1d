// Reads the stage's config, a JSON object, with a small JSON reader: keys
// and string values are decoded (escapes included). Both keys this plugin
// takes are strings, so any other value is refused by name, never parsed.
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *at;
    const char *end;
} cursor;

static char *format(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    char *out = malloc((size_t)n + 1);
    va_start(args, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, args);
    va_end(args);
    return out;
}

// strdup, which strict C11 headers do not declare.
static char *copy(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(malloc(n), s, n);
}

static int refuse(kv_config_error *error, const char *key, char *message) {
    error->key = key ? copy(key) : NULL;
    error->message = message;
    return -1;
}

static void skip_space(cursor *c) {
    while (c->at < c->end && (*c->at == ' ' || *c->at == '\t' || *c->at == '\n' || *c->at == '\r'))
        c->at++;
}

static bool eat(cursor *c, char ch) {
    skip_space(c);
    if (c->at < c->end && *c->at == ch) {
        c->at++;
        return true;
    }
    return false;
}

static int hex4(const char *p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9') v |= ch - '0';
        else if (ch >= 'a' && ch <= 'f') v |= ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F') v |= ch - 'A' + 10;
        else return -1;
    }
    return v;
}

static size_t put_utf8(char *out, uint32_t cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

// Reads a JSON string at the cursor into a malloc'd, NUL-terminated buffer.
// Returns false on malformed input.
static bool read_string(cursor *c, char **out, size_t *out_len) {
    if (!eat(c, '"')) return false;
    // Decoded text is never longer than the escaped text.
    char *buf = malloc((size_t)(c->end - c->at) + 1);
    size_t n = 0;
    while (c->at < c->end && *c->at != '"') {
        char ch = *c->at++;
        if (ch != '\\') {
            buf[n++] = ch;
            continue;
        }
        if (c->at >= c->end) break;
        char esc = *c->at++;
        switch (esc) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            int cp = c->end - c->at >= 4 ? hex4(c->at) : -1;
            if (cp < 0) goto bad;
            c->at += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && c->end - c->at >= 6 && c->at[0] == '\\' &&
                c->at[1] == 'u') {
                int low = hex4(c->at + 2);
                if (low >= 0xDC00 && low < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    c->at += 6;
                }
            }
            n += put_utf8(buf + n, (uint32_t)cp);
            break;
        }
        default: goto bad;
        }
    }
    if (c->at >= c->end) goto bad;
    c->at++;  // the closing quote
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return true;
bad:
    free(buf);
    return false;
}

static const char *kind_of(cursor *c) {
    skip_space(c);
    if (c->at >= c->end) return "nothing";
    switch (*c->at) {
    case '"': return "a string";
    case '{': return "a table";
    case '[': return "a list";
    case 't':
    case 'f': return "a boolean";
    case 'n': return "null";
    default: return "a number";
    }
}

int kv_config_parse(const char *json, size_t len, kv_config *config, kv_config_error *error) {
    cursor c = {json, json + len};
    config->separator = '=';
    config->prefix = copy("");
    config->prefix_len = 0;
    if (!eat(&c, '{')) return refuse(error, NULL, format("config must be a JSON object"));
    if (!eat(&c, '}')) {
        do {
            char *key;
            size_t key_len;
            if (!read_string(&c, &key, &key_len) || !eat(&c, ':'))
                return refuse(error, NULL, format("config is not valid JSON"));
            bool is_separator = strcmp(key, "separator") == 0;
            if (!is_separator && strcmp(key, "prefix") != 0) {
                int r = refuse(error, key,
                               format("unknown key `%s`, expected one of: separator, prefix", key));
                free(key);
                return r;
            }
            skip_space(&c);
            if (c.at >= c.end || *c.at != '"') {
                int r = refuse(error, key, format("must be a string, not %s", kind_of(&c)));
                free(key);
                return r;
            }
            char *value;
            size_t value_len;
            if (!read_string(&c, &value, &value_len)) {
                free(key);
                return refuse(error, NULL, format("config is not valid JSON"));
            }
            if (is_separator) {
                unsigned char ch = (unsigned char)value[0];
                bool ok = value_len == 1 && ch > ' ' && ch < 0x7F;
                free(value);
                if (!ok) {
                    int r = refuse(error, key,
                                   format("must be exactly one printable ASCII character"));
                    free(key);
                    return r;
                }
                config->separator = (char)ch;
            } else {
                free(config->prefix);
                config->prefix = value;
                config->prefix_len = value_len;
            }
            free(key);
        } while (eat(&c, ','));
        if (!eat(&c, '}')) return refuse(error, NULL, format("config is not valid JSON"));
    }
    skip_space(&c);
    if (c.at != c.end) return refuse(error, NULL, format("config is not valid JSON"));
    return 0;
}
