/* Unit tests of the OCR engine wrapper (insp_ocr.h) on a fixture image with known Korean and
 * English text (tests/unit/fixtures/insp_words.png, made with Pillow and NanumGothic), and of
 * the artifact store (insp_store.h). */
#include <libgen.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "insp_ocr.h"
#include "insp_store.h"
#include "sl_common.h"
#include "sl_fs.h"
#include "sl_test.h"

static insp_ocr_t *ocr;

static PIX *fixture(void)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s", __FILE__);
    char file[4200];
    snprintf(file, sizeof(file), "%s/fixtures/insp_words.png", dirname(path));
    return pixRead(file);
}

static size_t count_text(const insp_words_t *words, const char *text)
{
    size_t n = 0;
    for (size_t i = 0; i < words->n; i++) {
        n += strstr(words->word[i].text, text) != NULL;
    }
    return n;
}

TEST(test_reads_korean_and_english_words_with_boxes)
{
    PIX *pix = fixture();
    ASSERT_TRUE(pix != NULL);
    insp_words_t words = {0};
    ASSERT_EQ(insp_ocr_read(ocr, pix, 8000, 200, &words), 0);
    ASSERT_EQ(count_text(&words, "완치"), 1);
    ASSERT_EQ(count_text(&words, "shipping"), 1);
    ASSERT_EQ(count_text(&words, "Miracle"), 1);
    for (size_t i = 0; i < words.n; i++) {
        ASSERT_TRUE(words.word[i].box.w > 0 && words.word[i].box.h > 0);
        ASSERT_TRUE(words.word[i].box.y >= 0 && words.word[i].box.y < 200);
    }
    insp_words_deinit(&words);
    pixDestroy(&pix);
}

TEST(test_tall_image_read_in_bands_reports_each_word_once)
{
    PIX *pix = fixture();
    ASSERT_TRUE(pix != NULL);
    /* The fixture three times, 1,000 px apart; with 1,200 px bands overlapping by 400 px the
     * second copy straddles the seam at 1,200 px and lies inside an overlap. */
    PIX *tall = pixCreate(640, 3000, 8);
    pixSetAll(tall);
    for (int k = 0; k < 3; k++) {
        pixRasterop(tall, 0, 100 + k * 1000 + (k == 1 ? 50 : 0), 640, 200, PIX_SRC, pix, 0, 0);
    }
    insp_words_t words = {0};
    ASSERT_EQ(insp_ocr_read(ocr, tall, 1200, 400, &words), 0);
    ASSERT_EQ(count_text(&words, "완치"), 3);
    ASSERT_EQ(count_text(&words, "shipping"), 3);
    ASSERT_EQ(count_text(&words, "Miracle"), 3);
    insp_words_deinit(&words);
    pixDestroy(&tall);
    pixDestroy(&pix);
}

TEST(test_blank_image_has_no_words)
{
    PIX *blank = pixCreate(400, 300, 8);
    pixSetAll(blank);
    insp_words_t words = {0};
    ASSERT_EQ(insp_ocr_read(ocr, blank, 8000, 200, &words), 0);
    ASSERT_EQ(words.n, 0);
    pixDestroy(&blank);
}

TEST(test_store_lays_out_by_id_and_trims_oldest_first)
{
    char dir[] = "/tmp/test_insp_store.XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    PIX *pix = fixture();
    char path[INSP_PATH_BYTES];
    ASSERT_EQ(insp_store_put(dir, "../evil", "capture.png", pix, path, sizeof(path)), SL_EINVAL);
    const char *ids[] = {"job-a", "job-b", "job-c"};
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(insp_store_put(dir, ids[i], "capture.png", pix, path, sizeof(path)), 0);
        usleep(20000); /* distinct modification times */
    }
    ASSERT_TRUE(strstr(path, "/job-c/capture.png") != NULL);
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    /* Room for two jobs: the oldest goes; the one being written is kept even when over. */
    ASSERT_TRUE(insp_store_trim(dir, (uint64_t)st.st_size * 2, "job-c") > 0);
    char p[INSP_PATH_BYTES];
    snprintf(p, sizeof(p), "%s/job-a", dir);
    ASSERT_TRUE(access(p, F_OK) != 0);
    snprintf(p, sizeof(p), "%s/job-b", dir);
    ASSERT_TRUE(access(p, F_OK) == 0);
    insp_store_trim(dir, 0, "job-c");
    ASSERT_TRUE(access(p, F_OK) != 0);
    ASSERT_TRUE(access(path, F_OK) == 0);
    pixDestroy(&pix);
    sl_fs_rmtree(dir);
}

int main(void)
{
    setenv("OMP_THREAD_LIMIT", "1", 0);
    char err[256];
    if (insp_ocr_new("kor+eng", NULL, 6, &ocr, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    RUN(test_reads_korean_and_english_words_with_boxes);
    RUN(test_tall_image_read_in_bands_reports_each_word_once);
    RUN(test_blank_image_has_no_words);
    RUN(test_store_lays_out_by_id_and_trims_oldest_first);
    insp_ocr_free(ocr);
    TEST_MAIN_END();
}
