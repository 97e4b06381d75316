/* Inside the cookbook: the supervised loop with another dataset and config (tinkerc rm). */
#ifndef TK_COOKBOOK_SL_INTERNAL_H
#define TK_COOKBOOK_SL_INTERNAL_H

#include "tinkerc/cookbook.h"

typedef struct tk_sl_train_hooks {
    tk_sl_dataset *dataset;       /* taken (freed whatever happens): trained instead of loading
                                     cfg->dataset; rendered by the loop with its renderer */
    struct json_t *(*config_json)(const tk_sl_config *resolved, void *user);   /* config.json */
    void *user;
    const char *recipe_name;      /* the session's recipe name ("tinkerc rm") */
    const char *label;            /* the progress label ("rm") */
} tk_sl_train_hooks;

/* tk_sl_train with hooks (NULL: tk_sl_train). */
int tk_sl_train_with(const tk_sl_config *c, const tk_sl_train_hooks *h, tk_sl_result *res, tk_err *e);

#endif
