/* JPEG through libjpeg-turbo's TurboJPEG API, with the limits TurboJPEG 2.1
 * lacks enforced by a walk over the marker segments before decoding (see
 * image.h): scans counted, the decoder's memory estimated from the frame
 * header. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "formats/errmsg.h"
#include "formats/image_internal.h"

/* What the marker walk learns. */
typedef struct jpeg_layout {
    int have_sof;
    int progressive;
    int ncomp;
    int hs[4], vs[4];  /* sampling factors (1 … 4) */
    int first_scan_comps;
    unsigned scans;
} jpeg_layout;

static int is_sof(uint8_t mk)
{
    return mk >= 0xC0 && mk <= 0xCF && mk != 0xC4 && mk != 0xC8 && mk != 0xCC;
}

/* Walks the segments as libjpeg's marker reader does: garbage before a marker
 * and fill bytes (FF FF) skipped, a segment skipped by its length, and after
 * an SOS the entropy-coded data skipped up to the next FF xx that is not
 * stuffing (FF 00) or a restart marker. Stops at EOI or the end of the data
 * (a truncated file is libjpeg's to report). Fails once the scans exceed
 * max_scans. */
static int walk_markers(const uint8_t *p, size_t len, unsigned max_scans, jpeg_layout *L,
                        char *err, size_t errlen)
{
    memset(L, 0, sizeof *L);
    size_t i = 2;
    for (;;) {
        while (i < len && p[i] != 0xFF)
            i++;
        while (i < len && p[i] == 0xFF)
            i++;
        if (i >= len)
            return 0;
        uint8_t mk = p[i++];
        if (mk == 0xD9)
            return 0;
        if (mk == 0x00 || mk == 0x01 || mk == 0xD8 || (mk >= 0xD0 && mk <= 0xD7))
            continue; /* no length field */
        if (len - i < 2)
            return 0;
        size_t seg = (size_t)p[i] << 8 | p[i + 1];
        if (seg < 2 || seg > len - i)
            return 0;
        const uint8_t *b = p + i + 2;
        size_t blen = seg - 2;
        if (is_sof(mk) && !L->have_sof && blen >= 6) {
            int nc = b[5];
            if (nc >= 1 && nc <= 4 && blen >= 6 + 3 * (size_t)nc) {
                L->have_sof = 1;
                L->ncomp = nc;
                L->progressive = mk == 0xC2 || mk == 0xC6 || mk == 0xCA || mk == 0xCE;
                for (int c = 0; c < nc; c++) {
                    int hv = b[6 + 3 * c + 1];
                    L->hs[c] = hv >> 4 ? hv >> 4 : 1;
                    L->vs[c] = hv & 15 ? hv & 15 : 1;
                }
            }
        }
        i += seg;
        if (mk != 0xDA)
            continue;
        if (++L->scans > max_scans)
            return vf_fail(err, errlen, "jpeg: more than %u scans (the limit; a progressive "
                           "file normally has about 10)", max_scans);
        if (L->scans == 1 && blen >= 1)
            L->first_scan_comps = b[0];
        for (;;) { /* entropy-coded data */
            const uint8_t *q = i < len ? memchr(p + i, 0xFF, len - i) : NULL;
            if (!q)
                return 0;
            i = (size_t)(q - p);
            if (i + 1 >= len)
                return 0;
            uint8_t nx = p[i + 1];
            if (nx == 0x00 || (nx >= 0xD0 && nx <= 0xD7)) {
                i += 2;
                continue;
            }
            if (nx == 0xFF) {
                i++;
                continue;
            }
            break; /* a marker: the outer loop reads it */
        }
    }
}

/* Peak bytes of a decode to ow×oh RGB: the output, libjpeg's whole-image
 * coefficient buffer when the file is progressive or has several scans
 * (2 bytes × 64 per block, blocks rounded up to the MCU as jdcoefct.c
 * allocates them), and the row buffers (a generous 64 bytes per component and
 * column covers the IDCT, context and upsampling rows). */
static uint64_t memory_estimate(const jpeg_layout *L, uint64_t w, uint64_t h, uint64_t ow,
                                uint64_t oh)
{
    uint64_t bytes = ow * oh * 3 + oh * sizeof(void *);
    int nc = L->ncomp ? L->ncomp : 3, maxh = 1, maxv = 1;
    for (int c = 0; c < nc && L->have_sof; c++) {
        maxh = L->hs[c] > maxh ? L->hs[c] : maxh;
        maxv = L->vs[c] > maxv ? L->vs[c] : maxv;
    }
    int buffered = L->progressive || L->scans > 1 || (L->first_scan_comps && L->first_scan_comps < nc);
    if (buffered && L->have_sof) {
        for (int c = 0; c < nc; c++) {
            uint64_t bw = (w * (uint64_t)L->hs[c] + 8 * (uint64_t)maxh - 1) / (8 * (uint64_t)maxh);
            uint64_t bh = (h * (uint64_t)L->vs[c] + 8 * (uint64_t)maxv - 1) / (8 * (uint64_t)maxv);
            bw = (bw + (uint64_t)L->hs[c] - 1) / (uint64_t)L->hs[c] * (uint64_t)L->hs[c];
            bh = (bh + (uint64_t)L->vs[c] - 1) / (uint64_t)L->vs[c] * (uint64_t)L->vs[c];
            bytes += bw * bh * 128;
        }
    }
    return bytes + w * (uint64_t)nc * 64 * (uint64_t)maxv;
}

static int header(tjhandle tj, const uint8_t *p, size_t len, int *w, int *h, int *cs, char *err,
                  size_t errlen)
{
    int sub = 0;
    if (len > ULONG_MAX)
        return vf_fail(err, errlen, "jpeg: %zu bytes is too large", len);
    if (tjDecompressHeader3(tj, p, (unsigned long)len, w, h, &sub, cs))
        return vf_fail(err, errlen, "jpeg: bad header: %s", tjGetErrorStr2(tj));
    if (*w <= 0 || *h <= 0)
        return vf_fail(err, errlen, "jpeg: invalid size %dx%d", *w, *h);
    return 0;
}

int vf_img_probe_jpeg(const uint8_t *p, size_t len, int *w, int *h, char *err, size_t errlen)
{
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return vf_fail(err, errlen, "jpeg: cannot create a decompressor: %s", tjGetErrorStr2(NULL));
    int cs = 0, rc = header(tj, p, len, w, h, &cs, err, errlen);
    tjDestroy(tj);
    return rc;
}

/* TurboJPEG takes the size wanted and uses the largest of its scaling factors
 * whose output fits; for ⌈w·n/8⌉ × ⌈h·n/8⌉ that is the largest m/8 ≥ n/8
 * giving the same size (they differ only for tiny images). Returns m. */
static int effective_scale(int w, int h, int n)
{
    int m = n;
    for (int k = n + 1; k <= 8; k++)
        if (TJSCALED(w, ((tjscalingfactor){k, 8})) == TJSCALED(w, ((tjscalingfactor){n, 8})) &&
            TJSCALED(h, ((tjscalingfactor){k, 8})) == TJSCALED(h, ((tjscalingfactor){n, 8})))
            m = k;
    return m;
}

int vf_img_decode_jpeg(const uint8_t *p, size_t len, const vf_image_limits *lim, int scale_num,
                       vf_image *out, char *err, size_t errlen)
{
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return vf_fail(err, errlen, "jpeg: cannot create a decompressor: %s", tjGetErrorStr2(NULL));
    int w = 0, h = 0, cs = 0, rc = -1;
    uint8_t *rgb = NULL;
    if (header(tj, p, len, &w, &h, &cs, err, errlen))
        goto out;
    if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
        vf_fail(err, errlen, "jpeg: %s colour space unsupported (RGB output only)",
                cs == TJCS_CMYK ? "CMYK" : "YCCK");
        goto out;
    }
    if (vf_img_check_dims((uint64_t)w, (uint64_t)h, lim, "jpeg", err, errlen))
        goto out;
    jpeg_layout L;
    unsigned max_scans = vf_img_max_scans(lim);
    if (walk_markers(p, len, max_scans, &L, err, errlen))
        goto out;
    int m = effective_scale(w, h, scale_num);
    tjscalingfactor sf = {m, 8};
    int ow = TJSCALED(w, sf), oh = TJSCALED(h, sf);
    if (vf_img_check_memory(memory_estimate(&L, (uint64_t)w, (uint64_t)h, (uint64_t)ow, (uint64_t)oh),
                            lim, "jpeg", err, errlen))
        goto out;
    rgb = malloc((size_t)ow * (size_t)oh * 3);
    if (!rgb) {
        vf_fail(err, errlen, "jpeg: out of memory for %dx%d", ow, oh);
        goto out;
    }
    int strict = !(lim && lim->lenient_jpeg);
    /* TurboJPEG's own scan limit (500) backs up the walk's count. */
    int flags = TJFLAG_ACCURATEDCT | (strict ? TJFLAG_STOPONWARNING : 0) |
                (max_scans <= 500 ? TJFLAG_LIMITSCANS : 0);
    if (tjDecompress2(tj, p, (unsigned long)len, rgb, ow, 0, oh, TJPF_RGB, flags)) {
        int fatal = tjGetErrorCode(tj) != TJERR_WARNING;
        if (fatal || strict) {
            vf_fail(err, errlen, "jpeg: %s%s", fatal ? "" : "(warning) ", tjGetErrorStr2(tj));
            goto out;
        }
    }
    out->w = ow;
    out->h = oh;
    out->full_w = w;
    out->full_h = h;
    out->scale_num = m;
    out->rgb = rgb;
    rgb = NULL;
    rc = 0;
out:
    free(rgb);
    tjDestroy(tj);
    return rc;
}
