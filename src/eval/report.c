/* Evaluation results as one JSON object (machines) or a table (humans). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/eval.h"
#include "duet/json.h"

static duet_report_item *add(duet_report *r, const char *name)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 32;
        r->v = duet_realloc(r->v, r->cap * sizeof *r->v);
    }
    duet_report_item *it = &r->v[r->n++];
    it->name = duet_strdup(name);
    it->str = NULL;
    it->num = 0.0;
    return it;
}

void duet_report_num(duet_report *r, const char *name, double value)
{
    add(r, name)->num = value;
}

void duet_report_str(duet_report *r, const char *name, const char *value)
{
    add(r, name)->str = duet_strdup(value);
}

void duet_report_free(duet_report *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].name);
        free(r->v[i].str);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* Shortest of %.15g / %.16g / %.17g that reads back as the same double, so
 * 0.1 prints as 0.1 and nothing is lost. */
static void write_number(FILE *f, double v)
{
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
}

int duet_report_write_json(const duet_report *r, FILE *f)
{
    fputc('{', f);
    for (size_t i = 0; i < r->n; i++) {
        const duet_report_item *it = &r->v[i];
        if (i)
            fputs(", ", f);
        duet_json_write_string(f, it->name, strlen(it->name));
        fputs(": ", f);
        if (it->str)
            duet_json_write_string(f, it->str, strlen(it->str));
        else if (isfinite(it->num))
            write_number(f, it->num);
        else
            fputs("null", f); /* JSON has no NaN / Infinity */
    }
    fputs("}\n", f);
    return ferror(f) ? -1 : 0;
}

int duet_report_write_table(const duet_report *r, FILE *f)
{
    int w = 6;
    for (size_t i = 0; i < r->n; i++)
        w = DUET_MAX(w, (int)strlen(r->v[i].name));
    fprintf(f, "%-*s  %s\n", w, "metric", "value");
    for (size_t i = 0; i < r->n; i++) {
        const duet_report_item *it = &r->v[i];
        if (it->str)
            fprintf(f, "%-*s  %s\n", w, it->name, it->str);
        else if (isnan(it->num))
            fprintf(f, "%-*s  n/a\n", w, it->name);
        else
            fprintf(f, "%-*s  %.6g\n", w, it->name, it->num);
    }
    return ferror(f) ? -1 : 0;
}
