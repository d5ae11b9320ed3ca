/* Shared state of the live engine's audio callback (C) and its Python worker threads.
 * Parsed by cffi (agent/engine/native/library.py) and compiled with callback.c: keep it plain C
 * declarations, no #include, no #ifdef.
 *
 * Ownership: the callback writes in_write, out_read, underruns, playing, file_pos, starved, blocks
 * and the engine counters; the worker writes out_write, scheduled, source and a source's written.
 * Each side publishes with a release store and reads the other's fields with an acquire load. A
 * source's ring and length never change once published; the worker keeps a replaced one alive
 * until `blocks` has advanced twice (the callback loads `source` once at the start of each block).
 */
#define ANTIPHON_MAX_VOICES 16

typedef struct antiphon_source {
    const float *ring;            /* an input file streamed at the stream rate: a ring the worker fills */
    int64_t length;               /* ring capacity, > 0 */
    int64_t written;              /* worker: samples written into the ring since the source began */
} antiphon_source;

typedef struct antiphon_voice {
    float *in_ring;               /* capacity samples: the performer, at the stream rate */
    float *out_ring;              /* capacity samples: the answer; behind out_read, what was played */
    int64_t capacity;
    int64_t in_write;             /* callback: samples written into in_ring since the start */
    int64_t out_read;             /* callback: samples played from out_ring since the start */
    int64_t out_write;            /* worker: end of the audio scheduled in out_ring */
    int64_t scheduled;            /* worker: 1 once audio was scheduled since the last start */
    int64_t underruns;            /* callback: blocks that ran past out_write while scheduled */
    int32_t input_channel;
    int32_t output_channel;
    const antiphon_source *source;  /* worker: the input file to play, NULL for the input channel */
    const antiphon_source *playing; /* callback: the source of the last block */
    int64_t file_pos;             /* callback: samples of `playing` taken since it began (published) */
    int64_t starved;              /* callback: blocks that found less of the input file than they needed */
    int64_t blocks;               /* callback: blocks processed since the voice was made */
} antiphon_voice;

typedef struct antiphon_engine {
    int32_t channels;             /* interleaved channels on each side of the duplex stream */
    int32_t voice_count;
    antiphon_voice *voices[ANTIPHON_MAX_VOICES];
    int64_t xruns;                /* callbacks flagged with an input over/underflow or output underflow */
    int64_t callbacks;
    int64_t last_xrun_callback;
} antiphon_engine;

/* A PortAudio stream callback (PaStreamCallback) for a float32 interleaved duplex stream. */
int antiphon_callback(const void *input, void *output, unsigned long frames,
                      const void *time_info, unsigned long status_flags, void *user_data);

/* Release stores and acquire loads for the Python side (see callback.c). */
void antiphon_store_release(int64_t *field, int64_t value);
int64_t antiphon_load_acquire(const int64_t *field);
const antiphon_source *antiphon_playing(const antiphon_voice *v);
