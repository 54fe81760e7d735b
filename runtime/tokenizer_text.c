/* CLIP's text clean-up and pre-tokeniser on code points: what
 * simple_tokenizer.py does with Python's str methods, html.unescape and the
 * `regex` module, rebuilt from the generated character tables
 * (runtime/unicode_tables.c). ftfy.fix_text, the first step of CLIP's
 * basic_clean, is not reproduced (runtime/tokenizer.h says what follows). */
#include <string.h>

#include "tokenizer_internal.h"
#include "tokenizer_tables.h"

/* ------------------------------------------------------- classes ---- */
static int in_ranges(const vr_uc_range *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

int vr_uc_is_letter(uint32_t cp)
{
    if (cp < 0x80)
        return (cp | 0x20) - 'a' < 26;
    return in_ranges(vr_uc_letter, vr_uc_letter_count, cp);
}
int vr_uc_is_number(uint32_t cp)
{
    if (cp < 0x80)
        return cp - '0' < 10;
    return in_ranges(vr_uc_number, vr_uc_number_count, cp);
}
int vr_uc_is_white_space(uint32_t cp)
{
    return in_ranges(vr_uc_white_space, vr_uc_white_space_count, cp);
}
int vr_uc_is_space(uint32_t cp) { return in_ranges(vr_uc_isspace, vr_uc_isspace_count, cp); }

int vr_uc_tolower(uint32_t cp, uint32_t out[2])
{
    if (cp < 0x80) {
        out[0] = cp - 'A' < 26 ? cp + 32 : cp;
        return 1;
    }
    for (size_t i = 0; i < vr_uc_lower_multi_count; i++)
        if (vr_uc_lower_multi_map[i].cp == cp) {
            out[0] = vr_uc_lower_multi_map[i].lower[0];
            out[1] = vr_uc_lower_multi_map[i].lower[1];
            return 2;
        }
    /* the last run starting at or before cp */
    size_t lo = 0, hi = vr_uc_lower_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vr_uc_lower[mid].first <= cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    out[0] = cp;
    if (lo > 0) {
        const vr_uc_lower_run *r = &vr_uc_lower[lo - 1];
        uint32_t k = cp - r->first;
        if (k % r->stride == 0 && k / r->stride < r->count)
            out[0] = (uint32_t)((int64_t)cp + r->delta);
    }
    return 1;
}

/* ---------------------------------------------------------- UTF-8 ---- */
size_t vr_tok_utf8_one(const uint8_t *s, size_t len, uint32_t *cpp, int *ok)
{
    uint32_t b = s[0];
    *ok = 0;
    *cpp = 0xFFFD;
    if (b < 0x80) {
        *ok = 1;
        *cpp = b;
        return 1;
    }
    int need;
    uint32_t cp, lo = 0x80, hi = 0xBF; /* allowed range of the next continuation */
    if (b >= 0xC2 && b <= 0xDF) {
        need = 1, cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2, cp = b & 0x0F;
        if (b == 0xE0)
            lo = 0xA0; /* overlong */
        if (b == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3, cp = b & 0x07;
        if (b == 0xF0)
            lo = 0x90; /* overlong */
        if (b == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else { /* a continuation byte, C0/C1 or F5..FF: never valid */
        return 1;
    }
    size_t j = 1;
    for (; (int)j <= need && j < len; j++) {
        uint32_t c = s[j];
        if (c < lo || c > hi)
            break;
        cp = cp << 6 | (c & 0x3F);
        lo = 0x80, hi = 0xBF;
    }
    if ((int)j == need + 1) {
        *ok = 1;
        *cpp = cp;
    }
    return j; /* on failure, the maximal subpart s[0..j) */
}

size_t vr_tok_utf8_decode(const uint8_t *s, size_t len, uint32_t *out)
{
    size_t i = 0, n = 0;
    int ok;
    while (i < len)
        i += vr_tok_utf8_one(s + i, len - i, &out[n++], &ok);
    return n;
}

int vr_tok_utf8_put(uint32_t cp, uint8_t *o)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* --------------------------------------------------- html.unescape ---- */
/* Python's html._invalid_charrefs: numeric references to these code points
 * mean the Windows-1252 character (0x00 → U+FFFD, 0x0D → CR). */
static const uint16_t cp1252[32] = {
    0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x8D,   0x017D, 0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};

/* Python's html._invalid_codepoints: numeric references to these vanish. */
static int invalid_codepoint(uint32_t c)
{
    return (c >= 0x1 && c <= 0x8) || c == 0xB || (c >= 0xE && c <= 0x1F) ||
           (c >= 0x7F && c <= 0x9F) || (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
}

static int is_hex(uint32_t c) { return c - '0' < 10 || (c | 0x20) - 'a' < 6; }
static uint32_t hex_val(uint32_t c) { return c - '0' < 10 ? c - '0' : (c | 0x20) - 'a' + 10; }

/* The entity named x[0..len) (code points compared with the ASCII names). */
static const vr_html_entity *find_entity(const uint32_t *x, size_t len)
{
    size_t lo = 0, hi = vr_html_entity_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const unsigned char *name = (const unsigned char *)vr_html_entities[mid].name;
        int cmp = 0;
        size_t i = 0;
        for (; i < len && name[i]; i++)
            if (x[i] != name[i]) {
                cmp = x[i] < name[i] ? -1 : 1;
                break;
            }
        if (!cmp)
            cmp = i < len ? 1 : name[i] ? -1 : 0;
        if (!cmp)
            return &vr_html_entities[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* The pattern html.unescape replaces, after its '&':
 *   #[0-9]+;?  |  #[xX][0-9a-fA-F]+;?  |  [^\t\n\f <&#;]{1,32};?
 * and Python's _replace_charref for it. Returns the code points consumed
 * after the '&' (0: no match) and writes the replacement to out (*nout). */
static size_t charref(const uint32_t *x, size_t n, uint32_t *out, size_t *nout)
{
    size_t i = 0;
    *nout = 0;
    if (n > 0 && x[0] == '#') {
        int hex = n > 2 && (x[1] | 0x20) == 'x' && is_hex(x[2]);
        if (!hex && !(n > 1 && x[1] - '0' < 10))
            return 0; /* '#' is excluded from the named form too */
        i = hex ? 2 : 1;
        uint32_t num = 0; /* saturates above U+10FFFF */
        for (; i < n && (hex ? is_hex(x[i]) : x[i] - '0' < 10); i++) {
            uint64_t v = (uint64_t)num * (hex ? 16 : 10) + (hex ? hex_val(x[i]) : x[i] - '0');
            num = v > 0x110000 ? 0x110000 : (uint32_t)v;
        }
        if (i < n && x[i] == ';')
            i++;
        if (num == 0)
            out[(*nout)++] = 0xFFFD;
        else if (num == 0x0D)
            out[(*nout)++] = 0x0D;
        else if (num >= 0x80 && num <= 0x9F)
            out[(*nout)++] = cp1252[num - 0x80];
        else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF)
            out[(*nout)++] = 0xFFFD;
        else if (!invalid_codepoint(num))
            out[(*nout)++] = num;
        return i;
    }
    while (i < n && i < 32 && x[i] != '\t' && x[i] != '\n' && x[i] != '\f' && x[i] != ' ' &&
           x[i] != '<' && x[i] != '&' && x[i] != '#' && x[i] != ';')
        i++;
    if (i == 0)
        return 0;
    if (i < n && x[i] == ';')
        i++;
    const vr_html_entity *e = find_entity(x, i);
    size_t keep = 0; /* name code points that stay as text after a prefix match */
    for (size_t p = i - 1; !e && p >= 2; p--) /* the longest known prefix */
        if ((e = find_entity(x, p)))
            keep = i - p;
    if (!e) { /* unchanged: '&' and the name */
        out[(*nout)++] = '&';
        memcpy(out + 1, x, i * sizeof *x);
        *nout += i;
        return i;
    }
    out[(*nout)++] = e->cp[0];
    if (e->cp[1])
        out[(*nout)++] = e->cp[1];
    memcpy(out + *nout, x + i - keep, keep * sizeof *x);
    *nout += keep;
    return i;
}

size_t vr_tok_html_unescape(const uint32_t *src, size_t n, uint32_t *dst)
{
    size_t o = 0;
    uint32_t rep[40];
    for (size_t i = 0; i < n;) {
        if (src[i] != '&') {
            dst[o++] = src[i++];
            continue;
        }
        size_t nrep, used = charref(src + i + 1, n - i - 1, rep, &nrep);
        if (!used) {
            dst[o++] = src[i++];
            continue;
        }
        memcpy(dst + o, rep, nrep * sizeof *rep); /* never longer than '&' + used */
        o += nrep;
        i += 1 + used;
    }
    return o;
}

/* ------------------------------------------------------- clean-up ---- */
static size_t strip(uint32_t *x, size_t n)
{
    size_t a = 0;
    while (a < n && vr_uc_is_space(x[a]))
        a++;
    while (n > a && vr_uc_is_space(x[n - 1]))
        n--;
    memmove(x, x + a, (n - a) * sizeof *x);
    return n - a;
}

/* Python's str.lower() turns U+03A3 Σ into final ς when
 *   \p{cased} \p{case-ignorable}* Σ  is not followed by  \p{case-ignorable}* \p{cased}
 * (unicodeobject.c, handle_capital_sigma), judged on the text before lowering. */
static int final_sigma(const uint32_t *x, size_t n, size_t i)
{
    size_t j = i;
    while (j > 0 && in_ranges(vr_uc_case_ignorable, vr_uc_case_ignorable_count, x[j - 1]))
        j--;
    if (j == 0 || !in_ranges(vr_uc_cased, vr_uc_cased_count, x[j - 1]))
        return 0;
    for (j = i + 1; j < n; j++)
        if (!in_ranges(vr_uc_case_ignorable, vr_uc_case_ignorable_count, x[j]))
            return !in_ranges(vr_uc_cased, vr_uc_cased_count, x[j]);
    return 1;
}

size_t vr_tok_clean(uint32_t *x, size_t n, uint32_t *tmp)
{
    n = vr_tok_html_unescape(x, n, tmp);
    n = vr_tok_html_unescape(tmp, n, x);
    n = strip(x, n); /* basic_clean */
    size_t o = 0;    /* whitespace_clean: \s+ → ' ', strip */
    for (size_t i = 0; i < n;) {
        if (vr_uc_is_white_space(x[i])) {
            while (i < n && vr_uc_is_white_space(x[i]))
                i++;
            x[o++] = ' ';
        } else {
            x[o++] = x[i++];
        }
    }
    n = strip(x, o);
    o = 0;
    for (size_t i = 0; i < n; i++) {
        if (x[i] == 0x3A3 && final_sigma(x, n, i))
            tmp[o++] = 0x3C2;
        else
            o += (size_t)vr_uc_tolower(x[i], tmp + o);
    }
    memcpy(x, tmp, o * sizeof *x);
    return o;
}

/* ---------------------------------------------------- pre-tokeniser ---- */
/* IGNORECASE equality with a lowercase ASCII letter of the pattern: simple
 * case folding adds only the uppercase letter and, for 's', U+017F ſ. */
static int eq_ci(uint32_t c, char p)
{
    uint32_t q = (unsigned char)p;
    if (c == q)
        return 1;
    if (q - 'a' < 26 && c == q - 32)
        return 1;
    return q == 's' && c == 0x17F;
}

static size_t match_lit(const uint32_t *x, size_t n, const char *lit)
{
    size_t k = 0;
    for (; lit[k]; k++)
        if (k >= n || !eq_ci(x[k], lit[k]))
            return 0;
    return k;
}

int vr_tok_next_piece(const uint32_t *x, size_t n, size_t *pos, size_t *start, size_t *end)
{
    static const char *const lits[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re",
                                       "'ve", "'m", "'ll", "'d"};
    for (size_t i = *pos; i < n; i++) {
        size_t m = 0;
        for (size_t k = 0; k < sizeof lits / sizeof *lits && !m; k++)
            m = match_lit(x + i, n - i, lits[k]);
        if (!m) {
            if (vr_uc_is_letter(x[i])) {
                for (m = 1; i + m < n && vr_uc_is_letter(x[i + m]); m++)
                    ;
            } else if (vr_uc_is_number(x[i])) {
                m = 1;
            } else if (!vr_uc_is_white_space(x[i])) {
                for (m = 1; i + m < n && !vr_uc_is_white_space(x[i + m]) &&
                            !vr_uc_is_letter(x[i + m]) && !vr_uc_is_number(x[i + m]);
                     m++)
                    ;
            }
        }
        if (m) {
            *start = i;
            *end = *pos = i + m;
            return 1;
        }
    }
    *pos = n;
    return 0;
}
