#include <json.h>

/* json_object_object_foreach is a macro; these expose ordered iteration over an object's keys. */
static inline struct lh_entry *CJSONC_object_first(struct json_object *obj) {
    struct lh_table *t = json_object_get_object(obj);
    return t ? t->head : 0;
}
static inline struct lh_entry *CJSONC_entry_next(struct lh_entry *e) { return e->next; }
static inline const char *CJSONC_entry_key(struct lh_entry *e) { return (const char *)e->k; }
static inline struct json_object *CJSONC_entry_value(struct lh_entry *e) { return (struct json_object *)e->v; }
