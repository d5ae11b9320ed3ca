/* The live engine's audio callback: it only moves samples between PortAudio's buffers and the
 * voices' preallocated rings. No allocation, no lock, no system call, no Python (no GIL): a
 * Python thread that holds the interpreter cannot delay it. See callback.h for who owns what.
 */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "callback.h"

/* PortAudio's PaStreamCallbackFlags; priming output (stream start) is not an xrun */
#define PA_INPUT_UNDERFLOW 0x1u
#define PA_INPUT_OVERFLOW 0x2u
#define PA_OUTPUT_UNDERFLOW 0x4u
#define PA_CONTINUE 0

static void take_input(antiphon_voice *v, const float *input, int64_t frames, int channels)
{
    const int64_t cap = v->capacity;
    const int64_t w = v->in_write;
    const antiphon_source *source = __atomic_load_n(&v->source, __ATOMIC_ACQUIRE);
    if (source != v->playing) {
        /* the position first: a worker that sees the new source sees its position */
        __atomic_store_n(&v->file_pos, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&v->playing, source, __ATOMIC_RELEASE);
    }
    if (source != NULL) {
        /* streamed: take what the worker has written, silence (and a count) if it fell behind */
        const int64_t p = v->file_pos;
        int64_t n = __atomic_load_n(&source->written, __ATOMIC_ACQUIRE) - p;
        n = n < 0 ? 0 : (n > frames ? frames : n);
        for (int64_t i = 0; i < n; i++)
            v->in_ring[(w + i) % cap] = source->ring[(p + i) % source->length];
        for (int64_t i = n; i < frames; i++)
            v->in_ring[(w + i) % cap] = 0.0f;
        if (n < frames)
            v->starved++;
        __atomic_store_n(&v->file_pos, p + n, __ATOMIC_RELEASE);
    } else if (input != NULL) {
        const float *src = input + v->input_channel;
        for (int64_t i = 0; i < frames; i++)
            v->in_ring[(w + i) % cap] = src[i * channels];
    } else {
        for (int64_t i = 0; i < frames; i++)
            v->in_ring[(w + i) % cap] = 0.0f;
    }
    __atomic_store_n(&v->in_write, w + frames, __ATOMIC_RELEASE);
}

static void play_output(antiphon_voice *v, float *output, int64_t frames, int channels)
{
    const int64_t cap = v->capacity;
    const int64_t r = v->out_read;
    const int64_t available = __atomic_load_n(&v->out_write, __ATOMIC_ACQUIRE) - r;
    const int64_t n = available >= frames ? frames : (available > 0 ? available : 0);
    float *dst = output + v->output_channel;
    for (int64_t i = 0; i < frames; i++) {
        const int64_t k = (r + i) % cap;
        if (i >= n)
            v->out_ring[k] = 0.0f; /* nothing scheduled: the ring holds the silence played */
        dst[i * channels] += v->out_ring[k];
    }
    if (n < frames && __atomic_load_n(&v->scheduled, __ATOMIC_ACQUIRE))
        v->underruns++;
    __atomic_store_n(&v->out_read, r + frames, __ATOMIC_RELEASE);
}

int antiphon_callback(const void *input, void *output, unsigned long frames,
                      const void *time_info, unsigned long status_flags, void *user_data)
{
    antiphon_engine *e = (antiphon_engine *)user_data;
    float *out = (float *)output;
    (void)time_info;
    if (status_flags & (PA_INPUT_UNDERFLOW | PA_INPUT_OVERFLOW | PA_OUTPUT_UNDERFLOW)) {
        __atomic_store_n(&e->xruns, e->xruns + 1, __ATOMIC_RELEASE);
        e->last_xrun_callback = e->callbacks;
    }
    memset(out, 0, (size_t)frames * (size_t)e->channels * sizeof(float));
    for (int32_t i = 0; i < e->voice_count; i++) {
        take_input(e->voices[i], (const float *)input, (int64_t)frames, e->channels);
        play_output(e->voices[i], out, (int64_t)frames, e->channels);
        __atomic_store_n(&e->voices[i]->blocks, e->voices[i]->blocks + 1, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&e->callbacks, e->callbacks + 1, __ATOMIC_RELEASE);
    return PA_CONTINUE;
}

/* For the Python side (through cffi): the release stores and acquire loads the ownership rules in
 * callback.h ask for, which plain cffi field accesses do not give on weakly ordered CPUs (arm64). */
void antiphon_store_release(int64_t *field, int64_t value)
{
    __atomic_store_n(field, value, __ATOMIC_RELEASE);
}

int64_t antiphon_load_acquire(const int64_t *field)
{
    return __atomic_load_n(field, __ATOMIC_ACQUIRE);
}

const antiphon_source *antiphon_playing(const antiphon_voice *v)
{
    return __atomic_load_n(&v->playing, __ATOMIC_ACQUIRE);
}
