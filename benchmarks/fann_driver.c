/*
 * FANN driver for benchmarks/peers.py: per-sample SGD with FANN 2.2.
 *
 * peers.py compiles this file at run time against Debian's libfann-dev:
 *     cc -O2 -DNB_DOUBLE fann_driver.c -o fann_driver -ldoublefann -lm   (float64)
 *     cc -O2             fann_driver.c -o fann_driver -lfloatfann  -lm   (float32)
 * (libfann.so itself is the float build, so float64 needs libdoublefann.)
 *
 * Usage: fann_driver DIR
 *   DIR/meta.txt    "n_sizes s0 s1 ...\nhidden_code output_code\nlr\nn_samples\nrepeats\n"
 *                   activation codes: 0 identity, 1 sigmoid, 2 tanh
 *   DIR/params.bin  initial flat parameters in nbprop's layout
 *                   [W0.ravel(), b0, W1.ravel(), b1, ...], W_l (fan_out, fan_in) row-major
 *   DIR/X.bin, DIR/Y.bin  samples, row-major, fann_type
 * Runs one untimed epoch (summing the loss in double) and then `repeats`
 * timed epochs, each from the initial weights.  Writes DIR/params_out.bin
 * (same layout) and DIR/result.txt: "seconds t1 t2 ..." (wall, CLOCK_MONOTONIC),
 * "cpu_seconds c1 c2 ..." (CLOCK_PROCESS_CPUTIME_ID), "loss L" from the
 * untimed pass, "fann_loss L" from FANN's float MSE of the last timed pass.
 *
 * How FANN is set up so that one fann_train() call is exactly
 * params -= lr * d/dparams [ 1/2 * sum_o (y_o - y'_o)^2 ]:
 *   - FANN_TRAIN_INCREMENTAL semantics: we call fann_train() per sample, which
 *     runs forward, fann_compute_MSE, backprop and fann_update_weights.
 *   - learning momentum 0, so delta_w = lr * error * input, nothing else.
 *   - train error function FANN_ERRORFUNC_LINEAR (the default, TANH, reshapes
 *     the output error with log((1+d)/(1-d))).
 *   - FANN's sigmoid is 1/(1+exp(-2*s*z)) with derivative 2*s*y*(1-y), so the
 *     logistic sigmoid 1/(1+exp(-z)) needs steepness s = 0.5 (not 1.0).
 *     FANN_SIGMOID_SYMMETRIC with s = 1 is tanh(z), derivative 1 - y^2.
 *     FANN_LINEAR with s = 1 is the identity.
 *   - The output error is desired - actual, unscaled, for LINEAR and SIGMOID
 *     outputs; FANN halves it for symmetric (tanh) outputs, so a tanh output
 *     layer is refused by peers.py.
 *   - fann's learning_rate is a C float: peers.py uses a learning rate that is
 *     exact in float32 so the float64 update is bit-for-bit plain SGD.
 * Known FANN deviations that peers.py has to stay away from (it checks):
 *   fann_activation_derived clips y to [0.01, 0.99] (sigmoid) and
 *   [-0.98, 0.98] (tanh) before computing the derivative, and pre-activations
 *   are clipped to +-150/steepness.
 */
#ifdef NB_DOUBLE
#include <doublefann.h>
#else
#include <floatfann.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_seconds(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "fann_driver: %s %s\n", msg, arg ? arg : "");
    exit(2);
}

static void *read_file(const char *dir, const char *name, size_t bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open", path);
    void *buf = malloc(bytes ? bytes : 1);
    if (!buf) die("out of memory reading", path);
    if (fread(buf, 1, bytes, f) != bytes) die("short read of", path);
    fclose(f);
    return buf;
}

static void set_activation(struct fann *ann, int layer, int code)
{
    /* (function, steepness) pairs explained in the header comment */
    switch (code) {
    case 0: fann_set_activation_function_layer(ann, FANN_LINEAR, layer);
            fann_set_activation_steepness_layer(ann, (fann_type)1.0, layer); break;
    case 1: fann_set_activation_function_layer(ann, FANN_SIGMOID, layer);
            fann_set_activation_steepness_layer(ann, (fann_type)0.5, layer); break;
    case 2: fann_set_activation_function_layer(ann, FANN_SIGMOID_SYMMETRIC, layer);
            fann_set_activation_steepness_layer(ann, (fann_type)1.0, layer); break;
    default: die("unknown activation code", NULL);
    }
}

/* Index in ann->weights of (layer l, unit j, input i); i == fan_in is the bias.
 * fann_create_standard lays the connections out neuron by neuron, each neuron
 * taking every unit of the previous layer and then that layer's bias neuron
 * (checked against fann_get_connection_array in check_layout). */
static void to_fann(const fann_type *flat, fann_type *w, int n_layers, const unsigned *sizes)
{
    size_t p = 0, k = 0;
    for (int l = 0; l < n_layers; l++) {
        unsigned fi = sizes[l], fo = sizes[l + 1];
        const fann_type *W = flat + p, *b = flat + p + (size_t)fi * fo;
        for (unsigned j = 0; j < fo; j++) {
            for (unsigned i = 0; i < fi; i++) w[k++] = W[(size_t)j * fi + i];
            w[k++] = b[j];
        }
        p += (size_t)fi * fo + fo;
    }
}

static void from_fann(const fann_type *w, fann_type *flat, int n_layers, const unsigned *sizes)
{
    size_t p = 0, k = 0;
    for (int l = 0; l < n_layers; l++) {
        unsigned fi = sizes[l], fo = sizes[l + 1];
        fann_type *W = flat + p, *b = flat + p + (size_t)fi * fo;
        for (unsigned j = 0; j < fo; j++) {
            for (unsigned i = 0; i < fi; i++) W[(size_t)j * fi + i] = w[k++];
            b[j] = w[k++];
        }
        p += (size_t)fi * fo + fo;
    }
}

/* Make sure connection k really is (layer l, unit j, input i) as to_fann assumes.
 * FANN numbers neurons globally, each layer followed by its bias neuron. */
static void check_layout(struct fann *ann, int n_layers, const unsigned *sizes)
{
    unsigned total = fann_get_total_connections(ann);
    struct fann_connection *c = malloc(sizeof *c * total);
    fann_get_connection_array(ann, c);
    size_t k = 0;
    unsigned first_prev = 0;
    for (int l = 0; l < n_layers; l++) {
        unsigned fi = sizes[l], fo = sizes[l + 1];
        unsigned first_this = first_prev + fi + 1;
        for (unsigned j = 0; j < fo; j++)
            for (unsigned i = 0; i <= fi; i++, k++)
                if (c[k].from_neuron != first_prev + i || c[k].to_neuron != first_this + j)
                    die("unexpected FANN connection layout", NULL);
        first_prev = first_this;
    }
    if (k != total) die("unexpected FANN connection count", NULL);
    free(c);
}

int main(int argc, char **argv)
{
    if (argc != 2) die("usage: fann_driver DIR", NULL);
    const char *dir = argv[1];
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.txt", dir);
    FILE *meta = fopen(path, "r");
    if (!meta) die("cannot open", path);

    unsigned n_sizes, sizes[64];
    int hidden_code, output_code, repeats;
    double lr;
    long n;
    if (fscanf(meta, "%u", &n_sizes) != 1 || n_sizes < 2 || n_sizes > 64) die("bad meta", path);
    for (unsigned l = 0; l < n_sizes; l++)
        if (fscanf(meta, "%u", &sizes[l]) != 1) die("bad meta sizes", path);
    if (fscanf(meta, "%d %d %lf %ld %d", &hidden_code, &output_code, &lr, &n, &repeats) != 5)
        die("bad meta tail", path);
    fclose(meta);
    int n_layers = (int)n_sizes - 1;
    unsigned n_in = sizes[0], n_out = sizes[n_layers];

    size_t n_params = 0;
    for (int l = 0; l < n_layers; l++) n_params += (size_t)sizes[l] * sizes[l + 1] + sizes[l + 1];
    fann_type *p0 = read_file(dir, "params.bin", n_params * sizeof(fann_type));
    fann_type *X = read_file(dir, "X.bin", (size_t)n * n_in * sizeof(fann_type));
    fann_type *Y = read_file(dir, "Y.bin", (size_t)n * n_out * sizeof(fann_type));

    struct fann *ann = fann_create_standard_array(n_sizes, sizes);
    if (!ann) die("fann_create_standard_array failed", NULL);
    for (int l = 1; l < (int)n_sizes; l++)
        set_activation(ann, l, l == n_layers ? output_code : hidden_code);
    fann_set_training_algorithm(ann, FANN_TRAIN_INCREMENTAL);
    fann_set_train_error_function(ann, FANN_ERRORFUNC_LINEAR);
    fann_set_learning_momentum(ann, 0.0f);
    fann_set_learning_rate(ann, (float)lr);
    if (fann_get_total_connections(ann) != n_params) die("parameter count differs from FANN's", NULL);
    check_layout(ann, n_layers, sizes);

    fann_type *w0 = malloc(n_params * sizeof(fann_type));
    to_fann(p0, w0, n_layers, sizes);

    FILE *res = fopen((snprintf(path, sizeof path, "%s/result.txt", dir), path), "w");
    if (!res) die("cannot write", path);

    /* Untimed pass first: the same epoch, plus each sample's loss before its
     * own update summed in double (FANN's own MSE accumulator is a float, too
     * coarse for the correctness check).  Its final weights must equal the
     * timed passes' bit for bit: fann_run is repeated by fann_train anyway. */
    fann_type *w_check = malloc(n_params * sizeof(fann_type));
    double loss = 0.0;
    memcpy(ann->weights, w0, n_params * sizeof(fann_type));
    fann_reset_MSE(ann);
    for (long s = 0; s < n; s++) {
        fann_type *x = X + (size_t)s * n_in, *y = Y + (size_t)s * n_out;
        fann_type *out = fann_run(ann, x);
        for (unsigned o = 0; o < n_out; o++) {
            double d = (double)y[o] - (double)out[o];
            loss += 0.5 * d * d;
        }
        fann_train(ann, x, y);
    }
    memcpy(w_check, ann->weights, n_params * sizeof(fann_type));

    double *cpu = malloc(sizeof(double) * (repeats > 0 ? repeats : 1));
    fprintf(res, "seconds");
    double fann_loss = 0.0;
    for (int r = 0; r < repeats; r++) {
        /* every repeat starts from the same weights and fresh training state */
        memcpy(ann->weights, w0, n_params * sizeof(fann_type));
        fann_reset_MSE(ann);
        double t0 = clock_seconds(CLOCK_MONOTONIC), c0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
        for (long s = 0; s < n; s++)
            fann_train(ann, X + (size_t)s * n_in, Y + (size_t)s * n_out);
        double t1 = clock_seconds(CLOCK_MONOTONIC), c1 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
        fprintf(res, " %.9f", t1 - t0);
        cpu[r] = c1 - c0;
        /* fann_get_MSE = sum of squared output errors / (n * n_out), in float */
        fann_loss = 0.5 * (double)fann_get_MSE(ann) * (double)n * (double)n_out;
        if (memcmp(ann->weights, w_check, n_params * sizeof(fann_type)) != 0)
            die("a timed pass ended with other weights than the check pass", NULL);
    }
    fprintf(res, "\ncpu_seconds");
    for (int r = 0; r < repeats; r++) fprintf(res, " %.9f", cpu[r]);
    fprintf(res, "\nloss %.17g\nfann_loss %.17g\n", loss, fann_loss);
    fclose(res);

    fann_type *flat = malloc(n_params * sizeof(fann_type));
    from_fann(w_check, flat, n_layers, sizes);
    snprintf(path, sizeof path, "%s/params_out.bin", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(flat, sizeof(fann_type), n_params, f) != n_params) die("cannot write", path);
    fclose(f);
    fann_destroy(ann);
    return 0;
}
