/* The checkpoint store: training runs and their checkpoints on disk under a data directory, with
 * an in-memory index rebuilt from disk at open. Internal to the server layer.
 *
 * Layout (docs/server.md "Checkpoint store"):
 *   <data_dir>/runs/<run_id>/run.json                          run metadata
 *   <data_dir>/runs/<run_id>/<kind>/<name>/checkpoint.json     checkpoint metadata
 *   <data_dir>/runs/<run_id>/<kind>/<name>/payload/...         the engine's files (opaque here)
 *   <data_dir>/tmp/                                            staging and trash; emptied at open
 * A checkpoint is staged in tmp/, its checkpoint.json written last, and the whole directory
 * renamed into place (an atomic exchange when it replaces an older one), so a listing never sees
 * a half-written checkpoint and a crash leaves either the old one or the new one.
 *
 * Thread safety: every function may be called from any thread; one mutex guards the index. */
#ifndef TK_SERVER_STORE_H
#define TK_SERVER_STORE_H

#include "names.h"
#include "tar_gz.h"

struct json_t;
typedef struct tk_server_store tk_server_store;

/* Metadata of a training run (a training model), as listed by GET /training_runs. */
typedef struct tk_server_run_meta {
    const char *run_id;
    const char *base_model;
    const char *owner;               /* model_owner; may be NULL */
    bool is_lora;
    int64_t lora_rank;               /* 0 when not LoRA */
    bool train_mlp, train_attn, train_unembed;
    double created_wall;             /* seconds since the epoch */
    const struct json_t *user_metadata; /* object of strings or NULL (copied) */
} tk_server_run_meta;

/* A staged checkpoint: the caller writes files under payload_dir, then commits or aborts. */
typedef struct tk_server_stage tk_server_stage;

/* Open (creating directories as needed), empty tmp/, and index every run and checkpoint found.
 * Unreadable run.json or checkpoint.json files are skipped with a warning (tk_log). */
int tk_server_store_open(const char *data_dir, tk_server_store **out, tk_err *e);
void tk_server_store_close(tk_server_store *s);
const char *tk_server_store_dir(const tk_server_store *s);

/* Who asks, for access_scope (protocol §3.8, docs/server.md "Ownership"). owner is the caller's
 * API-key fingerprint (tk_server_auth_fingerprint). A run belongs to the key that created it;
 * runs recorded without an owner ("local") belong to everyone. NULL access: no filter. */
typedef enum {
    TK_SERVER_SCOPE_OWNED = 0,       /* the caller's runs */
    TK_SERVER_SCOPE_ACCESSIBLE = 1,  /* and runs of other keys that have a public checkpoint */
} tk_server_scope;

typedef struct tk_server_access {
    const char *owner;
    tk_server_scope scope;
} tk_server_access;

/* Parse ?access_scope= ("owned" / "accessible"; NULL = owned). TK_EINVAL otherwise. */
int tk_server_scope_parse(const char *s, tk_server_scope *out, tk_err *e);

/* May owner use checkpoint (run_id, kind, name)? Reading it (loading weights, a sampling session,
 * weights_info, an archive) needs its run's owner or a public checkpoint; changing it (delete,
 * publish, TTL; write = true) needs the owner. Returns 0; TK_ENOTFOUND as tk_server_store_find; or
 * TK_EINVAL naming the reason with *forbidden set (answer 403). owner NULL: always allowed. */
int tk_server_store_check(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind, const char *name,
                          const char *owner, bool write, bool *forbidden, tk_err *e);

/* Create or replace a run's metadata (run.json written atomically). */
int tk_server_store_put_run(tk_server_store *s, const tk_server_run_meta *m, tk_err *e);
/* Record activity on a run (kept in memory; written with the next put_run or commit). */
void tk_server_store_touch_run(tk_server_store *s, const char *run_id, double wall);
bool tk_server_store_has_run(tk_server_store *s, const char *run_id);

/* The TrainingRun JSON of protocol §3.8 (new reference in *out). TK_ENOTFOUND for an unknown run
 * or one outside acc's scope. */
int tk_server_store_run_json(tk_server_store *s, const char *run_id, const tk_server_access *acc,
                             struct json_t **out, tk_err *e);
/* {"training_runs":[…],"cursor":{"offset","limit","total_count"}}, newest run first, the runs in
 * acc's scope. */
int tk_server_store_list_runs(tk_server_store *s, const tk_server_access *acc, int64_t offset, int64_t limit,
                              struct json_t **out, tk_err *e);

/* Begin writing checkpoint (run, kind, name). The run must exist. When it already exists and
 * overwrite is false: TK_EEXIST. *out owns a fresh empty payload directory. */
int tk_server_store_stage(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind,
                          const char *name, bool overwrite, tk_server_stage **out, tk_err *e);
/* The directory the engine writes into (valid until commit/abort). */
const char *tk_server_stage_payload_dir(const tk_server_stage *st);
/* Publish the staged checkpoint: fsync the payload, write checkpoint.json, rename into place.
 * ttl_s <= 0 means no expiry. extra (may be NULL) is an object stored as "extra" in
 * checkpoint.json for the engine's own use (copied). Frees st in every case. On success writes
 * the tinker path to path_out (may be NULL; TK_SERVER_ID_MAX + TK_SERVER_NAME_MAX + 32 bytes). */
#define TK_SERVER_PATH_MAX (TK_SERVER_ID_MAX + TK_SERVER_NAME_MAX + 32)
int tk_server_store_commit(tk_server_store *s, tk_server_stage *st, double ttl_s,
                           const struct json_t *extra, char *path_out, tk_err *e);
/* Discard a staged checkpoint. st may be NULL. */
void tk_server_store_abort(tk_server_store *s, tk_server_stage *st);

/* Find a live (committed, not expired) checkpoint. payload_dir_out (may be NULL) receives a
 * malloc'd path the caller frees; info_out (may be NULL) a new reference to its Checkpoint JSON
 * plus "extra". TK_ENOTFOUND naming the checkpoint otherwise. */
int tk_server_store_find(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind,
                         const char *name, char **payload_dir_out, struct json_t **info_out, tk_err *e);
/* Same from a tinker:// path. */
int tk_server_store_find_path(tk_server_store *s, const char *tinker_path, char **payload_dir_out,
                              struct json_t **info_out, tk_err *e);

/* {"checkpoints":[Checkpoint…],"cursor":{…}} newest first. With run_id: that run's checkpoints
 * (the run must be in acc's ACCESSIBLE scope; a foreign run shows its public checkpoints only);
 * run_id NULL: every checkpoint of the caller's own runs (acc->owner). acc NULL: no filter. */
int tk_server_store_list_ckpts(tk_server_store *s, const char *run_id, const tk_server_access *acc, int64_t offset,
                               int64_t limit, struct json_t **out, tk_err *e);

/* Delete a checkpoint (it disappears from listings at once; files are removed after). */
int tk_server_store_delete(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind,
                           const char *name, tk_err *e);
/* Publish (true) or unpublish. Idempotent. */
int tk_server_store_set_public(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind,
                               const char *name, bool pub, tk_err *e);
/* Expire ttl_s seconds from now; ttl_s < 0 removes the expiry. ttl_s == 0 is TK_EINVAL. */
int tk_server_store_set_ttl(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind,
                            const char *name, double ttl_s, tk_err *e);
/* Delete every checkpoint whose expiry is before now_wall. Returns how many. */
size_t tk_server_store_expire(tk_server_store *s, double now_wall);

/* A .tar.gz stream of the checkpoint's payload files (member names relative to payload/). */
int tk_server_store_archive(tk_server_store *s, const char *run_id, tk_server_ckpt_kind kind,
                            const char *name, tk_server_targz **out, tk_err *e);

#endif
