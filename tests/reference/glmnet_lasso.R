# Reference fixtures for tests/test_lasso_vs_glmnet.py: R's glmnet on small fixed data sets.
#
# Regenerate (from the repository root):   Rscript tests/reference/glmnet_lasso.R
# Requires R and glmnet (Debian: apt-get install r-base-core r-cran-glmnet).
# Generated with R 4.2.2 Patched (2022-11-10 r83330) and glmnet 4.1-6 (Debian bookworm).
#
# Everything under tests/data/glmnet/ is written by this script: the data (x, y and a fixed
# foldid) and glmnet's output. Nothing in it comes from axilla. Numbers are written with 17
# significant digits, so the CSVs hold exactly the doubles R used.
#
# Per data set <name>:
#   <name>_data.csv            f0..f{p-1}, y (0/1), foldid (1..K)
#   <name>_default_lambda.csv  glmnet's own default λ path (nlambda = L; glmnet may stop it early)
#   <name>_path.csv            lambda, a0, f0..: glmnet(family = "binomial", alpha = 1,
#                              standardize = TRUE) on a fixed λ sequence: L log-spaced values from
#                              glmnet's λ_max down to λ_max·ratio; coefficients on x's own scale
#   <name>_cv.csv              lambda, cvm, cvsd of cv.glmnet(type.measure = "deviance") on the
#                              same λ with the fixed foldid
#   <name>_selected.csv        rule (min / 1se), lambda, a0, f0..: coef(cvfit, s = "lambda.min"
#                              / "lambda.1se")

suppressPackageStartupMessages(library(glmnet))

out_dir <- file.path("tests", "data", "glmnet")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

THRESH <- 1e-14  # glmnet's convergence threshold, far below its default 1e-7
MAXIT <- 1e7

write_exact <- function(df, name) {
  for (col in names(df)) {
    if (is.double(df[[col]])) df[[col]] <- sprintf("%.17g", df[[col]])
  }
  write.csv(df, file.path(out_dir, name), row.names = FALSE, quote = FALSE)
}

coef_frame <- function(beta, features) {
  m <- as.matrix(beta)  # (1 + p) × n_lambda: intercept first
  df <- as.data.frame(t(m))
  names(df) <- c("a0", features)
  df
}

make_data <- function(seed, n, p, K, signal) {
  set.seed(seed)
  scales <- runif(p, 0.5, 20)
  offsets <- runif(p, -5, 5)
  x <- sweep(matrix(rnorm(n * p), n, p), 2, scales, "*")
  x <- round(sweep(x, 2, offsets, "+"), 6)  # raw scales differ, as in radiomics tables
  z <- scale(x) * sqrt(n / (n - 1))          # population SD, as glmnet standardises
  eta <- signal * (1.2 * z[, 1] - 0.9 * z[, 2] + 0.6 * z[, 3]) - 0.2
  y <- rbinom(n, 1, plogis(eta))
  foldid <- sample(rep(seq_len(K), length.out = n))
  list(x = x, y = y, foldid = foldid)
}

reference <- function(name, seed, n, p, K, L, ratio, signal = 1) {
  d <- make_data(seed, n, p, K, signal)
  for (k in seq_len(K)) stopifnot(length(unique(d$y[d$foldid != k])) == 2)  # both classes to train on
  features <- paste0("f", seq_len(p) - 1)
  colnames(d$x) <- features
  write_exact(data.frame(d$x, y = as.integer(d$y), foldid = as.integer(d$foldid)), paste0(name, "_data.csv"))

  default <- glmnet(d$x, d$y, family = "binomial", alpha = 1, standardize = TRUE, nlambda = L)
  write_exact(data.frame(lambda = default$lambda), paste0(name, "_default_lambda.csv"))

  lambda_max <- default$lambda[1]
  lambda <- lambda_max * ratio^((seq_len(L) - 1) / (L - 1))
  fit <- glmnet(d$x, d$y, family = "binomial", alpha = 1, standardize = TRUE, lambda = lambda,
                thresh = THRESH, maxit = MAXIT)
  stopifnot(length(fit$lambda) == L)
  write_exact(data.frame(lambda = fit$lambda, coef_frame(coef(fit), features)), paste0(name, "_path.csv"))

  cv <- cv.glmnet(d$x, d$y, family = "binomial", alpha = 1, standardize = TRUE, lambda = lambda,
                  foldid = d$foldid, type.measure = "deviance", thresh = THRESH, maxit = MAXIT)
  write_exact(data.frame(lambda = cv$lambda, cvm = cv$cvm, cvsd = cv$cvsd), paste0(name, "_cv.csv"))
  sel <- rbind(coef_frame(coef(cv, s = "lambda.min"), features), coef_frame(coef(cv, s = "lambda.1se"), features))
  write_exact(data.frame(rule = c("min", "1se"), lambda = c(cv$lambda.min, cv$lambda.1se), sel),
              paste0(name, "_selected.csv"))
}

# 80 × 12, 5 folds of 16: cv.glmnet's grouped CV statistics
reference("grouped", seed = 3, n = 80, p = 12, K = 5, L = 30, ratio = 1e-4)
# 14 × 4, 5 folds of 2-3: fewer than 3 per fold, so cv.glmnet enforces grouped = FALSE
suppressWarnings(reference("ungrouped", seed = 2, n = 14, p = 4, K = 5, L = 25, ratio = 1e-4, signal = 2))
# 30 × 40 (n < p): glmnet's default λ path then ends at 0.01·λ_max
reference("wide", seed = 5, n = 30, p = 40, K = 5, L = 20, ratio = 0.01)
