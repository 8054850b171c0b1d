// The glue between the WIT world `transform` (wit/sluice.wit, through
// wit-bindgen's C output `transform.h`) and the logic in kv.c and config.c.
//
// Ownership, as wit-bindgen's C bindings define it: the lists of an export's
// arguments belong to the export, and what it returns is freed by the
// bindings after the host has copied it (`free` on every list whose length is
// not 0). So `process` moves the input's columns that stay as they are (the
// arena, the timestamps, the message spans) straight into its answer: every
// input event gives exactly one output event, in the same place. Keys and
// values are spans of the message, already in the arena, so with no `prefix`
// nothing is copied at all; a prefix is appended to the arena once per name.
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "kv.h"
#include "transform.h"

static const char *VERSION = "0.1.0";
static const char *NO_PAIRS = "no key=value pairs";

static kv_config config;
static int configured;

// Scratch space for one message's pairs, kept across calls.
static kv_pair *pairs;
static size_t pairs_capacity;

// A growable column: `len` elements of `size` bytes.
typedef struct {
    uint8_t *ptr;
    size_t len, cap, size;
} column;

static void *column_push(column *c) {
    if (c->len == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1024;
        c->ptr = realloc(c->ptr, c->cap * c->size);
        if (c->ptr == NULL) abort();
    }
    return c->ptr + c->len++ * c->size;
}

// A list the bindings may free: no allocation behind an empty list.
static void *column_finish(column *c) {
    if (c->len == 0) {
        free(c->ptr);
        return NULL;
    }
    return c->ptr;
}

// Frees an argument list (an empty one points at no allocation).
static void free_list(void *ptr, size_t len) {
    if (len > 0) free(ptr);
}

static void dup(transform_string_t *out, const char *s) { transform_string_dup(out, s); }

void exports_sluice_plugin_plugin_describe(exports_sluice_plugin_plugin_plugin_info_t *ret) {
    dup(&ret->name, "c-kv-example");
    dup(&ret->version, VERSION);
    ret->role = SLUICE_PLUGIN_TYPES_ROLE_TRANSFORM;
    dup(&ret->description, "parses key=value pairs from the message (a C plugin)");
    static const char *keys[][2] = {
        {"separator", "one ASCII character between key and value (default `=`)"},
        {"prefix", "put before every field name (default none)"},
    };
    size_t n = sizeof keys / sizeof keys[0];
    ret->config_keys.len = n;
    ret->config_keys.ptr = malloc(n * sizeof(sluice_plugin_types_config_key_t));
    for (size_t i = 0; i < n; i++) {
        sluice_plugin_types_config_key_t *key = &ret->config_keys.ptr[i];
        dup(&key->name, keys[i][0]);
        dup(&key->type_name, "string");
        key->required = false;
        dup(&key->description, keys[i][1]);
    }
    ret->outputs.len = 1;
    ret->outputs.ptr = malloc(sizeof(transform_string_t));
    dup(&ret->outputs.ptr[0], "errors");
}

bool exports_sluice_plugin_plugin_configure(transform_string_t *json,
                                            exports_sluice_plugin_plugin_config_error_t *err) {
    kv_config parsed;
    kv_config_error error;
    int r = kv_config_parse((const char *)json->ptr, json->len, &parsed, &error);
    transform_string_free(json);
    if (r != 0) {
        err->key.is_some = error.key != NULL;
        if (error.key) dup(&err->key.val, error.key);
        dup(&err->message, error.message);
        free(error.key);
        free(error.message);
        return false;
    }
    if (configured) free(config.prefix);
    config = parsed;
    configured = 1;
    return true;
}

// True when input field `j` is named `prefix` + the key of one of the pairs.
static bool replaced(const uint8_t *arena, uint32_t name_at, uint32_t name_len,
                     const uint8_t *message, size_t n_pairs) {
    if (name_len < config.prefix_len ||
        memcmp(arena + name_at, config.prefix, config.prefix_len) != 0)
        return false;
    const uint8_t *key = arena + name_at + config.prefix_len;
    size_t key_len = name_len - config.prefix_len;
    for (size_t p = 0; p < n_pairs; p++)
        if (pairs[p].key_len == key_len && memcmp(message + pairs[p].key_at, key, key_len) == 0)
            return true;
    return false;
}

bool exports_transform_process(transform_batch_t *in, transform_emitted_batch_t *ret,
                               transform_plugin_error_t *err) {
    if (!configured) {
        dup(&err->message, "process called before configure");
        transform_batch_free(in);
        return false;
    }
    size_t events = in->message_offsets.len;
    // The arena grows only when a prefix is appended.
    column arena = {in->arena.len ? in->arena.ptr : NULL, in->arena.len, in->arena.len, 1};
    column name_offsets = {0, 0, 0, 4}, name_lens = {0, 0, 0, 4}, kinds = {0, 0, 0, 1},
           numbers = {0, 0, 0, 8}, text_offsets = {0, 0, 0, 4}, text_lens = {0, 0, 0, 4},
           outputs = {0, 0, 0, 4}, errors = {0, 0, 0, sizeof(transform_tuple2_u32_string_t)};

    size_t first = 0;  // the event's first field in the input columns
    for (size_t i = 0; i < events; i++) {
        uint32_t message_at = in->message_offsets.ptr[i], message_len = in->message_lens.ptr[i];
        size_t room = message_len / 2 + 1;  // a pair takes two bytes at least
        if (room > pairs_capacity) {
            pairs_capacity = room * 2;
            pairs = realloc(pairs, pairs_capacity * sizeof(kv_pair));
            if (pairs == NULL) abort();
        }
        size_t n_pairs = message_len == 0 ? 0
                                          : kv_scan(arena.ptr + message_at, message_len,
                                                    config.separator, pairs, pairs_capacity);

        // The event's own fields, except those a pair replaces.
        uint32_t count = in->field_counts.ptr[i], written = 0;
        for (size_t j = first; j < first + count; j++) {
            uint32_t name_at = in->field_name_offsets.ptr[j], name_len = in->field_name_lens.ptr[j];
            if (n_pairs && replaced(arena.ptr, name_at, name_len, arena.ptr + message_at, n_pairs))
                continue;
            *(uint32_t *)column_push(&name_offsets) = name_at;
            *(uint32_t *)column_push(&name_lens) = name_len;
            *(uint8_t *)column_push(&kinds) = in->field_kinds.ptr[j];
            *(int64_t *)column_push(&numbers) = in->field_numbers.ptr[j];
            *(uint32_t *)column_push(&text_offsets) = in->field_text_offsets.ptr[j];
            *(uint32_t *)column_push(&text_lens) = in->field_text_lens.ptr[j];
            written++;
        }
        first += count;

        for (size_t p = 0; p < n_pairs; p++) {
            uint32_t name_at = message_at + pairs[p].key_at;
            uint32_t name_len = pairs[p].key_len;
            if (config.prefix_len > 0) {
                uint32_t at = (uint32_t)arena.len;
                for (size_t b = 0; b < config.prefix_len; b++)
                    *(uint8_t *)column_push(&arena) = (uint8_t)config.prefix[b];
                for (size_t b = 0; b < name_len; b++) {
                    uint8_t byte = arena.ptr[name_at + b];  // before the push moves the arena
                    *(uint8_t *)column_push(&arena) = byte;
                }
                name_at = at;
                name_len += (uint32_t)config.prefix_len;
            }
            *(uint32_t *)column_push(&name_offsets) = name_at;
            *(uint32_t *)column_push(&name_lens) = name_len;
            *(uint8_t *)column_push(&kinds) = SLUICE_PLUGIN_TYPES_VALUE_STRING;
            *(int64_t *)column_push(&numbers) = 0;
            *(uint32_t *)column_push(&text_offsets) = message_at + pairs[p].value_at;
            *(uint32_t *)column_push(&text_lens) = pairs[p].value_len;
            written++;
        }
        in->field_counts.ptr[i] = written;  // the column is reused for the answer

        if (n_pairs == 0) {
            transform_tuple2_u32_string_t *failed = column_push(&errors);
            failed->f0 = (uint32_t)i;
            dup(&failed->f1, NO_PAIRS);
        }
        *(uint32_t *)column_push(&outputs) = n_pairs == 0 ? 1 : 0;  // 1: `errors`
    }

    if (errors.len > 0) {
        transform_string_t counter;
        transform_string_set(&counter, "lines_without_pairs");
        sluice_plugin_host_counter_add(&counter, errors.len);
    }

    // Moved from the input, unchanged.
    ret->events.timestamps = in->timestamps;
    ret->events.ingest_timestamps = in->ingest_timestamps;
    ret->events.message_offsets = in->message_offsets;
    ret->events.message_lens = in->message_lens;
    ret->events.field_counts = in->field_counts;
    // Built here.
    ret->events.arena = (transform_list_u8_t){column_finish(&arena), arena.len};
    ret->events.field_name_offsets = (transform_list_u32_t){column_finish(&name_offsets), name_offsets.len};
    ret->events.field_name_lens = (transform_list_u32_t){column_finish(&name_lens), name_lens.len};
    ret->events.field_kinds = (transform_list_u8_t){column_finish(&kinds), kinds.len};
    ret->events.field_numbers = (transform_list_s64_t){column_finish(&numbers), numbers.len};
    ret->events.field_text_offsets = (transform_list_u32_t){column_finish(&text_offsets), text_offsets.len};
    ret->events.field_text_lens = (transform_list_u32_t){column_finish(&text_lens), text_lens.len};
    ret->outputs = (transform_list_u32_t){column_finish(&outputs), outputs.len};
    ret->errors = (transform_list_tuple2_u32_string_t){column_finish(&errors), errors.len};
    ret->output_names.len = 1;
    ret->output_names.ptr = malloc(sizeof(transform_string_t));
    dup(&ret->output_names.ptr[0], "errors");

    // The input's field columns were copied from; they are ours to free.
    free_list(in->field_name_offsets.ptr, in->field_name_offsets.len);
    free_list(in->field_name_lens.ptr, in->field_name_lens.len);
    free_list(in->field_kinds.ptr, in->field_kinds.len);
    free_list(in->field_numbers.ptr, in->field_numbers.len);
    free_list(in->field_text_offsets.ptr, in->field_text_offsets.len);
    free_list(in->field_text_lens.ptr, in->field_text_lens.len);
    return true;
}

void exports_transform_flush(transform_emitted_batch_t *ret) {
    // Nothing is held back: an empty answer.
    memset(ret, 0, sizeof *ret);
}
