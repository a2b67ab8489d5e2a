/*
 * Fused CPU kernel of the exact per-connection masked contraction
 *
 *     y[b, j]  = sum_i a[b, i] keep[b, i, j] w[i, j]        (forward)
 *     ga[b, i] = sum_j up[b, j] keep[b, i, j] w[i, j]       (input gradient)
 *     gw[i, j] = sum_b a[b, i] keep[b, i, j] up[b, j]       (weight gradient)
 *
 * on float32 row-major arrays, a: (B, D), w: (D, U), y and up: (B, U).
 *
 * The keep mask is never stored: every pass regenerates it in registers from a counter-based
 * hash, so no (B, D, U) tensor exists in memory and the backward pass sees exactly the
 * forward pass's decisions.
 *
 * Bits. The per-call 64-bit key k gives the stream state s = mix(k + G), with G the
 * SplitMix64 increment 0x9E3779B97F4A7C15 and mix the SplitMix64 finaliser. Random word n
 * of the call is h(n) = mix(s + (n + 1) G), the n-th output of SplitMix64 seeded with s.
 * Row (b, i) of the mask owns words n = (b D + i) W + w for w < W = ceil(U / P), and word w
 * holds the decisions of units j = w P .. w P + P - 1 in P fields of L bits, field f = j % P
 * being bits f L .. f L + L - 1 of the word (little-endian order, so the fields of
 * consecutive words are the decisions of consecutive units).
 *
 * Decisions. A keep probability t / 2**b (1 <= b <= 15, 1 <= t <= 2**b, the realised keep
 * probability of pernode_cli.layers.bits) takes lanes of L = 1 bit (b = 1: 64 decisions a
 * word, the raw bits), L = 8 (2 <= b <= 8: 8 a word) or L = 16 (9 <= b <= 15: 4 a word), and
 * keeps where the L-bit field is below T = t 2**(L - b): probability T / 2**L = t / 2**b
 * exactly. With drop set the complement is taken (field >= T), as bits.bernoulli_drop does.
 *
 * Arithmetic. Every path (AVX-512, AVX2 with FMA, portable C) performs the same float32
 * operations in the same order, so outputs are bit-identical whatever the path and the
 * thread count:
 *   only kept connections contribute (a dropped one adds nothing, even where its weight or
 *   input is not finite);
 *   y[b, j] and gw[i, j] are fused multiply-add chains, over i and over b ascending, from
 *   +0: acc = fma(a[b, i], w[i, j], acc), acc = fma(a[b, i], up[b, j], acc);
 *   ga[b, i] is, per tile of 128 units seen as 8 vectors of 16 lanes (unit j0 + 16 v + l),
 *   per lane (c0 + c1) + (c2 + c3) with c_k = fma(up, w, p) over vector 2k + 1 onto the
 *   product p of vector 2k (+0 where dropped), then over the lanes by the tree
 *   s8[l] = x[l] + x[l + 8], s4[l] = s8[l] + s8[l + 4], ...; tile sums are added in order.
 * The forward pass also skips terms with a = 0 against a row of w that is all finite: they
 * would add a signed zero (all paths skip alike, so even the sign of a zero sum agrees).
 *
 * Threads: the forward pass splits the batch, the backward pass the inputs, so each output
 * element is computed whole by one thread; workers run with the caller's floating-point
 * control word (flush-to-zero modes included).
 *
 * The module is a minimal CPython extension so that setuptools builds and installs it;
 * pernode_cli/layers/fused.py opens it with ctypes and calls the functions below.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#define PN_THREADS 0
#else
#define PN_THREADS 1
#include <pthread.h>
#include <unistd.h>
#endif

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define PN_X86 1
#include <immintrin.h>
#else
#define PN_X86 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define PN_EXPORT __attribute__((visibility("default")))
#define PN_INLINE static inline __attribute__((always_inline))
#else
#define PN_EXPORT
#define PN_INLINE static inline
#endif

#define PN_ABI 1
#define PN_TILE 128           /* units per tile: the ga tree and the register blocking */
#define PN_IBLOCK 32          /* inputs per block of the forward pass (w rows kept in L1) */
#define PN_MIN_WORK 262144    /* connections per extra thread */
#define PN_MAX_THREADS 64

#define G_INC 0x9E3779B97F4A7C15ULL
#define M_1 0xBF58476D1CE4E5B9ULL
#define M_2 0x94D049BB133111EBULL

enum { PATH_PORTABLE = 0, PATH_AVX2 = 1, PATH_AVX512 = 2 };
enum { ERR_SHAPE = -1, ERR_BITS = -2, ERR_THRESHOLD = -3, ERR_PATH = -4, ERR_THREADS = -5 };

PN_INLINE uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * M_1;
    z = (z ^ (z >> 27)) * M_2;
    return z ^ (z >> 31);
}

typedef struct {
    const float *a, *w, *up;
    float *y, *ga, *gw;
    uint8_t *mask;
    const uint8_t *w_finite;
    int64_t B, D, U, W;  /* batch, inputs, units, words per row */
    uint64_t s1;         /* s + G: word n is mix(s1 + n G) */
    uint32_t T;          /* keep where field < T */
    int lane, per_word, word_shift, drop, all;  /* per_word = 2**word_shift */
} job;

/* ------------------------------------------------------------------------------------------
 * Row masks: bits[q] bit r is the decision of unit j0 + 64 q + r (n <= 128 units, j0 a
 * multiple of 64; bits at and above n are zero).
 */
PN_INLINE void finish_bits(const job *J, int n, uint64_t bits[2]) {
    if (J->drop) {
        bits[0] = ~bits[0];
        bits[1] = ~bits[1];
    }
    if (n < 64) {
        bits[0] &= (n == 0) ? 0 : (~0ULL >> (64 - n));
        bits[1] = 0;
    } else if (n < 128) {
        bits[1] &= (n == 64) ? 0 : (~0ULL >> (128 - n));
    }
}

PN_INLINE uint64_t first_word(const job *J, int64_t b, int64_t i, int64_t j0) {
    return (uint64_t)((b * J->D + i) * J->W + (j0 >> J->word_shift));
}

PN_INLINE void row_bits_portable(const job *J, uint64_t n0, int n, uint64_t bits[2]) {
    bits[0] = bits[1] = 0;
    if (J->all) {
        bits[0] = bits[1] = ~0ULL;
    } else if (J->lane == 1) {
        for (int q = 0; q * 64 < n; q++) bits[q] = ~mix64(J->s1 + (n0 + (uint64_t)q) * G_INC);
    } else {
        const int L = J->lane, P = J->per_word;
        const uint64_t field = (1ULL << L) - 1;
        for (int w = 0; w * P < n; w++) {
            uint64_t h = mix64(J->s1 + (n0 + (uint64_t)w) * G_INC);
            for (int f = 0; f < P; f++) {
                int j = w * P + f;
                if (((h >> (f * L)) & field) < J->T) bits[j >> 6] |= 1ULL << (j & 63);
            }
        }
    }
    finish_bits(J, n, bits);
}

#if PN_X86
#define T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define T256 __attribute__((target("avx2,fma")))

T512 static inline __m512i mix512(__m512i z) {
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)), _mm512_set1_epi64((long long)M_1));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), _mm512_set1_epi64((long long)M_2));
    return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

T512 PN_INLINE void row_bits_512(const job *J, uint64_t n0, int n, uint64_t bits[2]) {
    if (J->lane != 16 && J->lane != 8) {
        row_bits_portable(J, n0, n, bits);  /* one or two words a row: scalar is as fast */
        return;
    }
    const __m512i step = _mm512_set1_epi64((long long)(8 * G_INC));
    __m512i st = _mm512_add_epi64(
        _mm512_set1_epi64((long long)(J->s1 + n0 * G_INC)),
        _mm512_set_epi64((long long)(7 * G_INC), (long long)(6 * G_INC), (long long)(5 * G_INC),
                         (long long)(4 * G_INC), (long long)(3 * G_INC), (long long)(2 * G_INC),
                         (long long)G_INC, 0));
    bits[0] = bits[1] = 0;
    if (J->lane == 16) {
        const __m512i T = _mm512_set1_epi16((short)J->T);
        int vectors = (n + 31) / 32;  /* 8 words = 32 units a vector */
        for (int z = 0; z < vectors; z++) {
            __mmask32 m = _mm512_cmplt_epu16_mask(mix512(st), T);
            bits[z >> 1] |= (uint64_t)m << ((z & 1) * 32);
            st = _mm512_add_epi64(st, step);
        }
    } else {
        const __m512i T = _mm512_set1_epi8((char)J->T);
        int vectors = (n + 63) / 64;  /* 8 words = 64 units a vector */
        for (int z = 0; z < vectors; z++) {
            bits[z] = (uint64_t)_mm512_cmplt_epu8_mask(mix512(st), T);
            st = _mm512_add_epi64(st, step);
        }
    }
    finish_bits(J, n, bits);
}

/* a * b mod 2**64 per 64-bit lane (AVX2 has no 64-bit multiply). */
T256 static inline __m256i mullo256(__m256i a, uint64_t c) {
    const __m256i lo = _mm256_set1_epi64x((long long)(c & 0xFFFFFFFFULL));
    const __m256i hi = _mm256_set1_epi64x((long long)(c >> 32));
    __m256i ll = _mm256_mul_epu32(a, lo);
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), lo), _mm256_mul_epu32(a, hi));
    return _mm256_add_epi64(ll, _mm256_slli_epi64(cross, 32));
}

T256 static inline __m256i mix256(__m256i z) {
    z = mullo256(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), M_1);
    z = mullo256(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), M_2);
    return _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
}

T256 PN_INLINE void row_bits_256(const job *J, uint64_t n0, int n, uint64_t bits[2]) {
    if (J->lane != 16 && J->lane != 8) {
        row_bits_portable(J, n0, n, bits);
        return;
    }
    const __m256i step = _mm256_set1_epi64x((long long)(4 * G_INC));
    __m256i st = _mm256_add_epi64(_mm256_set1_epi64x((long long)(J->s1 + n0 * G_INC)),
                                  _mm256_set_epi64x((long long)(3 * G_INC), (long long)(2 * G_INC),
                                                    (long long)G_INC, 0));
    bits[0] = bits[1] = 0;
    if (J->lane == 16) {
        /* unsigned 16-bit compare as a signed one on values shifted by 2**15 */
        const __m256i flip = _mm256_set1_epi16((short)0x8000);
        const __m256i T = _mm256_set1_epi16((short)((int)J->T - 32768));
        int pairs = (n + 31) / 32;  /* two vectors of 4 words: 32 units */
        for (int z = 0; z < pairs; z++) {
            __m256i c0 = _mm256_cmpgt_epi16(T, _mm256_xor_si256(mix256(st), flip));
            st = _mm256_add_epi64(st, step);
            __m256i c1 = _mm256_cmpgt_epi16(T, _mm256_xor_si256(mix256(st), flip));
            st = _mm256_add_epi64(st, step);
            __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi16(c0, c1), 0xD8);
            bits[z >> 1] |= (uint64_t)(uint32_t)_mm256_movemask_epi8(packed) << ((z & 1) * 32);
        }
    } else {
        const __m256i flip = _mm256_set1_epi8((char)0x80);
        const __m256i T = _mm256_set1_epi8((char)((int)J->T - 128));
        int vectors = (n + 31) / 32;  /* 4 words = 32 units a vector */
        for (int z = 0; z < vectors; z++) {
            __m256i c = _mm256_cmpgt_epi8(T, _mm256_xor_si256(mix256(st), flip));
            bits[z >> 1] |= (uint64_t)(uint32_t)_mm256_movemask_epi8(c) << ((z & 1) * 32);
            st = _mm256_add_epi64(st, step);
        }
    }
    finish_bits(J, n, bits);
}
#endif

static inline int tile_width(const job *J, int64_t j0) {
    return (int)((J->U - j0) < PN_TILE ? (J->U - j0) : PN_TILE);
}

/* The inputs of block [i0, i1) of row b whose terms can change y: a != 0, or a row of w that
 * is not all finite (0 * inf is NaN). Built without branches: zeros after a ReLU are too
 * irregular to predict. */
static inline int live_inputs(const job *J, int64_t b, int64_t i0, int64_t i1, int32_t *idx) {
    const float *ar = J->a + b * J->D;
    int count = 0;
    for (int64_t i = i0; i < i1; i++) {
        idx[count] = (int32_t)i;
        count += (ar[i] != 0.0f) | (J->w_finite[i] == 0);
    }
    return count;
}

/* ------------------------------------------------------------------------------------------
 * Portable C: the specification of the arithmetic.
 */
#define KEPT(bits, j) (((bits)[(j) >> 6] >> ((j) & 63)) & 1)

static void forward_portable(const job *J, int64_t b0, int64_t b1) {
    const int64_t D = J->D, U = J->U;
    for (int64_t j0 = 0; j0 < U; j0 += PN_TILE) {
        const int n = tile_width(J, j0);
        for (int64_t i0 = 0; i0 < D; i0 += PN_IBLOCK) {
            const int64_t i1 = (i0 + PN_IBLOCK < D) ? i0 + PN_IBLOCK : D;
            for (int64_t b = b0; b < b1; b++) {
                float acc[PN_TILE];
                float *yr = J->y + b * U + j0;
                for (int j = 0; j < n; j++) acc[j] = (i0 == 0) ? 0.0f : yr[j];
                int32_t idx[PN_IBLOCK];
                const int live = live_inputs(J, b, i0, i1, idx);
                for (int q = 0; q < live; q++) {
                    const int64_t i = idx[q];
                    const float s = J->a[b * D + i];
                    uint64_t bits[2];
                    row_bits_portable(J, first_word(J, b, i, j0), n, bits);
                    const float *wr = J->w + i * U + j0;
                    for (int j = 0; j < n; j++)
                        if (KEPT(bits, j)) acc[j] = fmaf(s, wr[j], acc[j]);
                }
                for (int j = 0; j < n; j++) yr[j] = acc[j];
            }
        }
    }
}

static inline float tree16(const float x[16]) {
    float s8[8], s4[4], s2[2];
    for (int l = 0; l < 8; l++) s8[l] = x[l] + x[l + 8];
    for (int l = 0; l < 4; l++) s4[l] = s8[l] + s8[l + 4];
    for (int l = 0; l < 2; l++) s2[l] = s4[l] + s4[l + 2];
    return s2[0] + s2[1];
}

/* One tile's part of ga[b, i]: lane l sums the kept products of units j0 + 16 v + l as
 * (c0 + c1) + (c2 + c3), c_k = p_{2k+1} fused onto p_{2k}; then tree16 over the lanes. */
static inline float ga_tile(const float *ur, const float *wr, const uint64_t bits[2], int n) {
    float lanes[16];
    for (int l = 0; l < 16; l++) {
        float c[4];
        for (int k = 0; k < 4; k++) {
            const int j0 = 32 * k + l, j1 = j0 + 16;
            float p = (j0 < n && KEPT(bits, j0)) ? ur[j0] * wr[j0] : 0.0f;
            c[k] = (j1 < n && KEPT(bits, j1)) ? fmaf(ur[j1], wr[j1], p) : p;
        }
        lanes[l] = (c[0] + c[1]) + (c[2] + c[3]);
    }
    return tree16(lanes);
}

static void backward_portable(const job *J, int64_t i0, int64_t i1) {
    const int64_t B = J->B, D = J->D, U = J->U;
    for (int64_t j0 = 0; j0 < U; j0 += PN_TILE) {
        const int n = tile_width(J, j0);
        for (int64_t i = i0; i < i1; i++) {
            const float *wr = J->w + i * U + j0;
            float g[PN_TILE];
            for (int j = 0; j < n; j++) g[j] = 0.0f;
            for (int64_t b = 0; b < B; b++) {
                uint64_t bits[2];
                row_bits_portable(J, first_word(J, b, i, j0), n, bits);
                const float *ur = J->up + b * U + j0;
                if (J->ga) {
                    const float t = ga_tile(ur, wr, bits, n);
                    float *gar = J->ga + b * D + i;
                    *gar = (j0 == 0) ? t : *gar + t;
                }
                if (J->gw) {
                    const float s = J->a[b * D + i];
                    for (int j = 0; j < n; j++)
                        if (KEPT(bits, j)) g[j] = fmaf(s, ur[j], g[j]);
                }
            }
            if (J->gw) {
                float *gr = J->gw + i * U + j0;
                for (int j = 0; j < n; j++) gr[j] = g[j];
            }
        }
    }
}

#if PN_X86
/* ------------------------------------------------------------------------------------------
 * AVX-512: vectors of 16 lanes, the row mask's 16-bit slices used as write masks of the
 * fused multiply-adds (a dropped lane keeps its accumulator).
 */
/* The pairwise sum of 8 lanes (the last steps of tree512 and tree256, in the order of tree16). */
T256 static inline float tree8(__m256 s8) {
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

T512 static inline __mmask16 tail16(int n, int v) {
    int left = n - 16 * v;
    return left >= 16 ? (__mmask16)0xFFFF : (left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1));
}

T512 static inline __mmask16 slice16(const uint64_t bits[2], int v) {
    return (__mmask16)(bits[v >> 2] >> ((v & 3) * 16));
}

T512 static void forward_512(const job *J, int64_t b0, int64_t b1) {
    const int64_t D = J->D, U = J->U;
    for (int64_t j0 = 0; j0 < U; j0 += PN_TILE) {
        const int n = tile_width(J, j0), nv = (n + 15) / 16;
        __mmask16 tail[8];
        for (int v = 0; v < 8; v++) tail[v] = tail16(n, v);
        for (int64_t i0 = 0; i0 < D; i0 += PN_IBLOCK) {
            const int64_t i1 = (i0 + PN_IBLOCK < D) ? i0 + PN_IBLOCK : D;
            for (int64_t b = b0; b < b1; b++) {
                float *yr = J->y + b * U + j0;
                __m512 acc[8];
#pragma GCC unroll 8
                for (int v = 0; v < 8; v++)
                    acc[v] = (i0 == 0) ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(tail[v], yr + 16 * v);
                int32_t idx[PN_IBLOCK];
                const int live = live_inputs(J, b, i0, i1, idx);
                for (int q = 0; q < live; q++) {
                    const int64_t i = idx[q];
                    uint64_t bits[2];
                    row_bits_512(J, first_word(J, b, i, j0), n, bits);
                    const float *wr = J->w + i * U + j0;
                    const __m512 sv = _mm512_set1_ps(J->a[b * D + i]);
#pragma GCC unroll 8
                    for (int v = 0; v < 8; v++)
                        if (v < nv)
                            acc[v] = _mm512_mask3_fmadd_ps(sv, _mm512_maskz_loadu_ps(tail[v], wr + 16 * v), acc[v],
                                                           slice16(bits, v));
                }
#pragma GCC unroll 8
                for (int v = 0; v < 8; v++)
                    if (v < nv) _mm512_mask_storeu_ps(yr + 16 * v, tail[v], acc[v]);
            }
        }
    }
}

T512 static inline float tree512(__m512 x) {
    return tree8(_mm256_add_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1)));
}

T512 static void backward_512(const job *J, int64_t i0, int64_t i1) {
    const int64_t B = J->B, D = J->D, U = J->U;
    for (int64_t j0 = 0; j0 < U; j0 += PN_TILE) {
        const int n = tile_width(J, j0), nv = (n + 15) / 16;
        __mmask16 tail[8];
        for (int v = 0; v < 8; v++) tail[v] = tail16(n, v);
        for (int64_t i = i0; i < i1; i++) {
            const float *wr = J->w + i * U + j0;
            __m512 wv[8], g[8];
#pragma GCC unroll 8
            for (int v = 0; v < 8; v++) {
                wv[v] = _mm512_maskz_loadu_ps(tail[v], wr + 16 * v);  /* a zero mask reads nothing */
                g[v] = _mm512_setzero_ps();
            }
            for (int64_t b = 0; b < B; b++) {
                uint64_t bits[2];
                row_bits_512(J, first_word(J, b, i, j0), n, bits);
                const float *ur = J->up + b * U + j0;
                __m512 u[8];
#pragma GCC unroll 8
                for (int v = 0; v < 8; v++) u[v] = _mm512_maskz_loadu_ps(tail[v], ur + 16 * v);
                if (J->ga) {
                    __m512 c[4];
#pragma GCC unroll 4
                    for (int k = 0; k < 4; k++)
                        c[k] = _mm512_mask3_fmadd_ps(u[2 * k + 1], wv[2 * k + 1],
                                                     _mm512_maskz_mul_ps(slice16(bits, 2 * k), u[2 * k], wv[2 * k]),
                                                     slice16(bits, 2 * k + 1));
                    const float t = tree512(_mm512_add_ps(_mm512_add_ps(c[0], c[1]), _mm512_add_ps(c[2], c[3])));
                    float *gar = J->ga + b * D + i;
                    *gar = (j0 == 0) ? t : *gar + t;
                }
                if (J->gw) {
                    const __m512 sv = _mm512_set1_ps(J->a[b * D + i]);
#pragma GCC unroll 8
                    for (int v = 0; v < 8; v++)
                        if (v < nv) g[v] = _mm512_mask3_fmadd_ps(sv, u[v], g[v], slice16(bits, v));
                }
            }
            if (J->gw) {
                float *gr = J->gw + i * U + j0;
#pragma GCC unroll 8
                for (int v = 0; v < 8; v++)
                    if (v < nv) _mm512_mask_storeu_ps(gr + 16 * v, tail[v], g[v]);
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * AVX2 + FMA: vectors of 8 lanes (a 16-lane vector of the specification is a pair), masks
 * applied by blending.
 */
T256 static inline __m256 mask8(uint64_t bits8) {
    const __m256i sel = _mm256_set_epi32(128, 64, 32, 16, 8, 4, 2, 1);
    __m256i b = _mm256_and_si256(_mm256_set1_epi32((int)(bits8 & 0xFF)), sel);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(b, sel));
}

T256 static inline __m256i tail8(int n, int h) {
    int left = n - 8 * h;
    left = left < 0 ? 0 : (left > 8 ? 8 : left);
    const __m256i idx = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left), idx);
}

T256 static inline uint64_t byte8(const uint64_t bits[2], int h) { return bits[h >> 3] >> ((h & 7) * 8); }

T256 static void forward_256(const job *J, int64_t b0, int64_t b1) {
    const int64_t D = J->D, U = J->U;
    for (int64_t j0 = 0; j0 < U; j0 += PN_TILE) {
        const int n = tile_width(J, j0), nh = (n + 7) / 8;
        __m256i tail[16];
        for (int h = 0; h < 16; h++) tail[h] = tail8(n, h);
        for (int64_t i0 = 0; i0 < D; i0 += PN_IBLOCK) {
            const int64_t i1 = (i0 + PN_IBLOCK < D) ? i0 + PN_IBLOCK : D;
            for (int64_t b = b0; b < b1; b++) {
                float *yr = J->y + b * U + j0;
                __m256 acc[16];
                for (int h = 0; h < 16; h++)
                    acc[h] = (i0 == 0 || h >= nh) ? _mm256_setzero_ps() : _mm256_maskload_ps(yr + 8 * h, tail[h]);
                int32_t idx[PN_IBLOCK];
                const int live = live_inputs(J, b, i0, i1, idx);
                for (int q = 0; q < live; q++) {
                    const int64_t i = idx[q];
                    uint64_t bits[2];
                    row_bits_256(J, first_word(J, b, i, j0), n, bits);
                    const float *wr = J->w + i * U + j0;
                    const __m256 sv = _mm256_set1_ps(J->a[b * D + i]);
                    for (int h = 0; h < nh; h++) {
                        __m256 sum = _mm256_fmadd_ps(sv, _mm256_maskload_ps(wr + 8 * h, tail[h]), acc[h]);
                        acc[h] = _mm256_blendv_ps(acc[h], sum, mask8(byte8(bits, h)));
                    }
                }
                for (int h = 0; h < nh; h++) _mm256_maskstore_ps(yr + 8 * h, tail[h], acc[h]);
            }
        }
    }
}

T256 static inline float tree256(__m256 lo, __m256 hi) { return tree8(_mm256_add_ps(lo, hi)); }

T256 static void backward_256(const job *J, int64_t i0, int64_t i1) {
    const int64_t B = J->B, D = J->D, U = J->U;
    for (int64_t j0 = 0; j0 < U; j0 += PN_TILE) {
        const int n = tile_width(J, j0), nh = (n + 7) / 8;
        __m256i tail[16];
        for (int h = 0; h < 16; h++) tail[h] = tail8(n, h);
        for (int64_t i = i0; i < i1; i++) {
            const float *wr = J->w + i * U + j0;
            __m256 g[16];
            for (int h = 0; h < 16; h++) g[h] = _mm256_setzero_ps();
            for (int64_t b = 0; b < B; b++) {
                uint64_t bits[2];
                row_bits_256(J, first_word(J, b, i, j0), n, bits);
                const float *ur = J->up + b * U + j0;
                if (J->ga) {
                    __m256 half[2];  /* lanes 0-7 and 8-15 of the 16-lane sum */
                    for (int e = 0; e < 2; e++) {
                        __m256 c[4];
                        for (int k = 0; k < 4; k++) {
                            const int h0 = 4 * k + e, h1 = h0 + 2;  /* halves of vectors 2k and 2k + 1 */
                            __m256 p = _mm256_and_ps(_mm256_mul_ps(_mm256_maskload_ps(ur + 8 * h0, tail[h0]),
                                                                   _mm256_maskload_ps(wr + 8 * h0, tail[h0])),
                                                     mask8(byte8(bits, h0)));
                            __m256 f = _mm256_fmadd_ps(_mm256_maskload_ps(ur + 8 * h1, tail[h1]),
                                                       _mm256_maskload_ps(wr + 8 * h1, tail[h1]), p);
                            c[k] = _mm256_blendv_ps(p, f, mask8(byte8(bits, h1)));
                        }
                        half[e] = _mm256_add_ps(_mm256_add_ps(c[0], c[1]), _mm256_add_ps(c[2], c[3]));
                    }
                    const float t = tree256(half[0], half[1]);
                    float *gar = J->ga + b * D + i;
                    *gar = (j0 == 0) ? t : *gar + t;
                }
                if (J->gw) {
                    const __m256 sv = _mm256_set1_ps(J->a[b * D + i]);
                    for (int h = 0; h < nh; h++) {
                        __m256 sum = _mm256_fmadd_ps(sv, _mm256_maskload_ps(ur + 8 * h, tail[h]), g[h]);
                        g[h] = _mm256_blendv_ps(g[h], sum, mask8(byte8(bits, h)));
                    }
                }
            }
            if (J->gw) {
                float *gr = J->gw + i * U + j0;
                for (int h = 0; h < nh; h++) _mm256_maskstore_ps(gr + 8 * h, tail[h], g[h]);
            }
        }
    }
}
#endif

/* ------------------------------------------------------------------------------------------
 * Debug: the keep mask as bytes, from the same row masks as the passes.
 */
#define MASK_ROWS(NAME, ATTR, ROW_BITS)                                                              \
    ATTR static void NAME(const job *J, int64_t b0, int64_t b1) {                                   \
        for (int64_t b = b0; b < b1; b++)                                                            \
            for (int64_t i = 0; i < J->D; i++)                                                       \
                for (int64_t j0 = 0; j0 < J->U; j0 += PN_TILE) {                                     \
                    const int n = tile_width(J, j0);                                                 \
                    uint64_t bits[2];                                                                \
                    ROW_BITS(J, first_word(J, b, i, j0), n, bits);                                   \
                    uint8_t *out = J->mask + (b * J->D + i) * J->U + j0;                             \
                    for (int j = 0; j < n; j++) out[j] = (uint8_t)((bits[j >> 6] >> (j & 63)) & 1);  \
                }                                                                                    \
    }

MASK_ROWS(mask_portable, , row_bits_portable)
#if PN_X86
MASK_ROWS(mask_512, T512, row_bits_512)
MASK_ROWS(mask_256, T256, row_bits_256)
#endif

/* ------------------------------------------------------------------------------------------
 * Dispatch and threads.
 */
static int best_path(void) {
#if PN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
        return PATH_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return PATH_AVX2;
#endif
    return PATH_PORTABLE;
}

static int online_cpus(void) {
#if PN_THREADS && defined(_SC_NPROCESSORS_ONLN)
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > PN_MAX_THREADS ? PN_MAX_THREADS : (int)n);
#else
    return 1;
#endif
}

typedef void (*range_fn)(const job *, int64_t, int64_t);

typedef struct {
    const job *J;
    range_fn fn;
    int64_t lo, hi;
#if PN_X86
    unsigned int csr;
#endif
} task;

static void run_range(task *t) { t->fn(t->J, t->lo, t->hi); }

#if PN_THREADS
static void *worker(void *arg) {
    task *t = (task *)arg;
#if PN_X86
    _mm_setcsr(t->csr);  /* the caller's rounding and flush-to-zero modes */
#endif
    run_range(t);
    return NULL;
}
#endif

/* Split [0, items) into `threads` contiguous ranges; the caller runs the first. */
static void parallel(const job *J, range_fn fn, int64_t items, int threads) {
    task tasks[PN_MAX_THREADS];
    if (threads > items) threads = items > 0 ? (int)items : 1;
    for (int k = 0; k < threads; k++) {
        tasks[k].J = J;
        tasks[k].fn = fn;
        tasks[k].lo = items * k / threads;
        tasks[k].hi = items * (k + 1) / threads;
#if PN_X86
        tasks[k].csr = _mm_getcsr();
#endif
    }
#if PN_THREADS
    pthread_t ids[PN_MAX_THREADS];
    int started[PN_MAX_THREADS] = {0};
    for (int k = 1; k < threads; k++) started[k] = pthread_create(&ids[k], NULL, worker, &tasks[k]) == 0;
    run_range(&tasks[0]);
    for (int k = 1; k < threads; k++) {
        if (started[k])
            pthread_join(ids[k], NULL);
        else
            run_range(&tasks[k]);  /* no thread to be had: the same range, here */
    }
#else
    for (int k = 0; k < threads; k++) run_range(&tasks[k]);
#endif
}

static int setup(job *J, int64_t B, int64_t D, int64_t U, uint64_t key, int bits, int64_t t, int drop, int *path,
                 int *threads) {
    if (B < 0 || D < 0 || U < 0) return ERR_SHAPE;
    if (bits < 1 || bits > 15) return ERR_BITS;
    if (t < 1 || t > (1LL << bits)) return ERR_THRESHOLD;
    if (*path < 0) *path = best_path();
    if (*path > best_path()) return ERR_PATH;
    if (*threads < 0 || *threads > PN_MAX_THREADS) return ERR_THREADS;
    /* The fewest bits of the same probability pick the lane: the layout depends on t / 2**b only. */
    while (bits > 1 && t % 2 == 0) {
        t /= 2;
        bits--;
    }
    memset(J, 0, sizeof(*J));
    J->B = B;
    J->D = D;
    J->U = U;
    J->lane = bits == 1 ? 1 : (bits <= 8 ? 8 : 16);
    J->per_word = 64 / J->lane;
    J->word_shift = J->lane == 1 ? 6 : (J->lane == 8 ? 3 : 2);
    J->W = (U + J->per_word - 1) / J->per_word;
    J->T = (uint32_t)(t << (J->lane - bits));
    J->all = t == (1LL << bits);
    J->drop = drop != 0;
    J->s1 = mix64(key + G_INC) + G_INC;
    return 0;
}

static int thread_count(int requested, int64_t work) {
    int n = requested > 0 ? requested : online_cpus();
    int64_t most = work / PN_MIN_WORK;
    if (requested == 0 && n > most) n = most < 1 ? 1 : (int)most;  /* small calls: one thread */
    return n < 1 ? 1 : n;
}

static uint8_t *finite_rows(const float *x, int64_t rows, int64_t cols) {
    uint8_t *out = (uint8_t *)malloc(rows > 0 ? (size_t)rows : 1);
    if (!out) return NULL;
    for (int64_t r = 0; r < rows; r++) {
        int ok = 1;
        for (int64_t c = 0; c < cols; c++) ok &= isfinite(x[r * cols + c]) != 0;
        out[r] = (uint8_t)ok;
    }
    return out;
}

/* ------------------------------------------------------------------------------------------
 * Public functions (ctypes). `path`: -1 the best this CPU runs, else 0 portable, 1 AVX2,
 * 2 AVX-512; `threads`: 0 automatic (the online CPUs, one for small calls). Returns 0, or a
 * negative code: -1 shape, -2 bits, -3 threshold, -4 path not supported here, -5 threads,
 * -6 out of memory.
 */
PN_EXPORT int pernode_fused_abi(void) { return PN_ABI; }
PN_EXPORT int pernode_fused_best_path(void) { return best_path(); }
PN_EXPORT int pernode_fused_cpus(void) { return online_cpus(); }

PN_EXPORT int pernode_fused_forward(const float *a, const float *w, float *y, int64_t B, int64_t D, int64_t U,
                                    uint64_t key, int bits, int64_t t, int drop, int path, int threads) {
    job J;
    int rc = setup(&J, B, D, U, key, bits, t, drop, &path, &threads);
    if (rc) return rc;
    if (D == 0) {
        memset(y, 0, (size_t)(B * U) * sizeof(float));
        return 0;
    }
    J.a = a;
    J.w = w;
    J.y = y;
    uint8_t *fin = finite_rows(w, D, U);
    if (!fin) return -6;
    J.w_finite = fin;
    range_fn fn = forward_portable;
#if PN_X86
    if (path == PATH_AVX512) fn = forward_512;
    if (path == PATH_AVX2) fn = forward_256;
#endif
    parallel(&J, fn, B, thread_count(threads, B * D * U));
    free(fin);
    return 0;
}

/* ga (B, D) and gw (D, U) from the upstream gradient up (B, U); either may be NULL. */
PN_EXPORT int pernode_fused_backward(const float *a, const float *w, const float *up, float *ga, float *gw, int64_t B,
                                     int64_t D, int64_t U, uint64_t key, int bits, int64_t t, int drop, int path,
                                     int threads) {
    job J;
    int rc = setup(&J, B, D, U, key, bits, t, drop, &path, &threads);
    if (rc) return rc;
    if (ga && U == 0) memset(ga, 0, (size_t)(B * D) * sizeof(float));
    if (gw && B == 0) memset(gw, 0, (size_t)(D * U) * sizeof(float));
    if (U == 0 || B == 0) return 0;
    J.a = a;
    J.w = w;
    J.up = up;
    J.ga = ga;
    J.gw = gw;
    range_fn fn = backward_portable;
#if PN_X86
    if (path == PATH_AVX512) fn = backward_512;
    if (path == PATH_AVX2) fn = backward_256;
#endif
    parallel(&J, fn, D, thread_count(threads, B * D * U));
    return 0;
}

PN_EXPORT int pernode_fused_grad_input(const float *up, const float *w, float *ga, int64_t B, int64_t D, int64_t U,
                                       uint64_t key, int bits, int64_t t, int drop, int path, int threads) {
    return pernode_fused_backward(NULL, w, up, ga, NULL, B, D, U, key, bits, t, drop, path, threads);
}

PN_EXPORT int pernode_fused_grad_weight(const float *a, const float *up, float *gw, int64_t B, int64_t D, int64_t U,
                                        uint64_t key, int bits, int64_t t, int drop, int path, int threads) {
    return pernode_fused_backward(a, NULL, up, NULL, gw, B, D, U, key, bits, t, drop, path, threads);
}

/* keep[b, i, j] as 0/1 bytes, (B, D, U): the decisions every pass regenerates. */
PN_EXPORT int pernode_fused_mask(uint8_t *keep, int64_t B, int64_t D, int64_t U, uint64_t key, int bits, int64_t t,
                                 int drop, int path, int threads) {
    job J;
    int rc = setup(&J, B, D, U, key, bits, t, drop, &path, &threads);
    if (rc) return rc;
    J.mask = keep;
    range_fn fn = mask_portable;
#if PN_X86
    if (path == PATH_AVX512) fn = mask_512;
    if (path == PATH_AVX2) fn = mask_256;
#endif
    parallel(&J, fn, B, thread_count(threads, B * D * U));
    return 0;
}

static uint64_t key_of(const int32_t *k) { return ((uint64_t)(uint32_t)k[0] << 32) | (uint64_t)(uint32_t)k[1]; }

/* ------------------------------------------------------------------------------------------
 * XLA FFI handlers (JAX's typed custom calls, jax.ffi.ffi_call) on XLA's stable C ABI
 * (xla/ffi/api/c_api.h, major version 0): the few structs read here are declared with the
 * same members in the same order, so no XLA headers are needed at build time. Operands:
 * a, w[, up] (float32), the int32 key pair and an int32 config [B, D, U, bits, t, drop, path,
 * threads]; results: y, or ga and gw (float32 buffers).
 */
typedef struct pn_ffi_ext {
    size_t struct_size;
    int type;  /* 1: the metadata query */
    struct pn_ffi_ext *next;
} pn_ffi_ext;

typedef struct {
    size_t struct_size;
    pn_ffi_ext *extension_start;
    int major_version, minor_version;
} pn_ffi_version;

typedef struct {
    size_t struct_size;
    pn_ffi_version api_version;
    uint32_t traits;
    int64_t state_type_id;
} pn_ffi_metadata;

typedef struct {
    pn_ffi_ext extension_base;
    pn_ffi_metadata *metadata;
} pn_ffi_metadata_ext;

typedef struct {
    size_t struct_size;
    pn_ffi_ext *extension_start;
    const char *message;
    int errc;
} pn_ffi_error_args;

typedef struct {
    size_t struct_size;
    pn_ffi_ext *extension_start;
    pn_ffi_version api_version;
    const void *internal_api;
    void *(*error_create)(pn_ffi_error_args *);
} pn_ffi_api;

typedef struct {
    size_t struct_size;
    pn_ffi_ext *extension_start;
    int dtype;
    void *data;
    int64_t rank;
    int64_t *dims;
} pn_ffi_buffer;

typedef struct {
    size_t struct_size;
    pn_ffi_ext *extension_start;
    int64_t size;
    int *types;
    void **items;
} pn_ffi_list;

typedef struct {
    size_t struct_size;
    pn_ffi_ext *extension_start;
    const pn_ffi_api *api;
    void *ctx;
    int stage;
    pn_ffi_list args, rets;
} pn_ffi_call_frame;

#define PN_FFI_MINOR 1  /* the oldest minor version with these members */

/* NULL when the call should go on; else the metadata answer (NULL too) or an error. */
static int ffi_metadata(pn_ffi_call_frame *frame) {
    pn_ffi_ext *ext = frame->extension_start;
    if (!ext || ext->type != 1) return 0;
    pn_ffi_metadata *md = ((pn_ffi_metadata_ext *)ext)->metadata;
    md->api_version.struct_size = offsetof(pn_ffi_version, minor_version) + sizeof(int);
    md->api_version.extension_start = NULL;
    md->api_version.major_version = 0;
    md->api_version.minor_version = PN_FFI_MINOR;
    md->traits = 0;
    if (md->struct_size >= offsetof(pn_ffi_metadata, state_type_id) + sizeof(int64_t)) md->state_type_id = 0;
    return 1;
}

static void *ffi_error(pn_ffi_call_frame *frame, int rc) {
    static const char *messages[] = {"", "negative shape", "bits outside [1, 15]", "threshold outside [1, 2**bits]",
                                     "SIMD path not supported by this CPU", "thread count outside [0, 64]",
                                     "out of memory"};
    pn_ffi_error_args args;
    args.struct_size = offsetof(pn_ffi_error_args, errc) + sizeof(int);
    args.extension_start = NULL;
    args.message = (rc <= -1 && rc >= -6) ? messages[-rc] : "fused kernel error";
    args.errc = rc == -6 ? 8 : 3;  /* RESOURCE_EXHAUSTED, INVALID_ARGUMENT */
    return frame->api->error_create(&args);
}

static void *ffi_data(const pn_ffi_list *list, int k) { return ((pn_ffi_buffer *)list->items[k])->data; }

PN_EXPORT void *pernode_ffi_forward(pn_ffi_call_frame *frame) {
    if (ffi_metadata(frame)) return NULL;
    const int32_t *c = (const int32_t *)ffi_data(&frame->args, 3);
    int rc = pernode_fused_forward((const float *)ffi_data(&frame->args, 0), (const float *)ffi_data(&frame->args, 1),
                                   (float *)ffi_data(&frame->rets, 0), c[0], c[1], c[2],
                                   key_of((const int32_t *)ffi_data(&frame->args, 2)), c[3], c[4], c[5], c[6], c[7]);
    return rc ? ffi_error(frame, rc) : NULL;
}

PN_EXPORT void *pernode_ffi_backward(pn_ffi_call_frame *frame) {
    if (ffi_metadata(frame)) return NULL;
    const int32_t *c = (const int32_t *)ffi_data(&frame->args, 4);
    int rc = pernode_fused_backward((const float *)ffi_data(&frame->args, 0), (const float *)ffi_data(&frame->args, 1),
                                    (const float *)ffi_data(&frame->args, 2), (float *)ffi_data(&frame->rets, 0),
                                    (float *)ffi_data(&frame->rets, 1), c[0], c[1], c[2],
                                    key_of((const int32_t *)ffi_data(&frame->args, 3)), c[3], c[4], c[5], c[6], c[7]);
    return rc ? ffi_error(frame, rc) : NULL;
}

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fused", "Fused per-connection masked contraction (C functions for ctypes).", -1,
    NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fused(void) {
    PyObject *m = PyModule_Create(&module);
    if (m) PyModule_AddIntConstant(m, "ABI", PN_ABI);
    return m;
}
